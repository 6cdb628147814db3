// Package runs is gorun's submitted runs: the bundle of files a run needs
// (playbooks, the files around them, inventories), the spec that travels
// with it, and the dispatcher service that takes submitted runs from the
// queue and runs them, writing their output to the run log and their
// outcome to the run record.
package runs

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Limits of a bundle.
const (
	// MaxBundleBytes caps the files of a run, before compression.
	MaxBundleBytes = 32 << 20
	// MaxFileBytes caps one file; larger files are left out.
	MaxFileBytes = 4 << 20
)

// ErrBundleTooLarge is returned when a run's files exceed MaxBundleBytes.
var ErrBundleTooLarge = errors.New("run bundle too large")

// Bundle collects the files a run needs: each playbook's directory (its
// imports, vars files, group_vars/host_vars), and each inventory source
// that is a path, with the group_vars/host_vars beside it. Files keep
// their absolute paths inside the bundle, so relative references between
// them still hold where the bundle is unpacked.
type Bundle struct {
	files map[string][]byte // absolute path → content
	size  int
}

// NewBundle returns an empty bundle.
func NewBundle() *Bundle { return &Bundle{files: map[string][]byte{}} }

// AddTree adds the regular files below dir (hidden directories and files
// larger than MaxFileBytes left out).
func (b *Bundle) AddTree(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Size() > MaxFileBytes {
			return nil
		}
		return b.AddFile(p)
	})
}

// AddFile adds one file.
func (b *Bundle) AddFile(p string) error {
	p, err := filepath.Abs(p)
	if err != nil {
		return err
	}
	if _, ok := b.files[p]; ok {
		return nil
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("bundling %s: %w", p, err)
	}
	b.size += len(data)
	if b.size > MaxBundleBytes {
		return fmt.Errorf("%w: more than %d MiB under the playbook and inventory directories (at %s); run from a smaller directory",
			ErrBundleTooLarge, MaxBundleBytes>>20, p)
	}
	b.files[p] = data
	return nil
}

// AddInventory adds an inventory source given to -i: a file (with the
// group_vars/ and host_vars/ beside it) or a directory; host lists need
// nothing.
func (b *Bundle) AddInventory(src string) error {
	st, err := os.Stat(src)
	if err != nil {
		return nil // a host list, or a missing source the dispatcher reports
	}
	if st.IsDir() {
		return b.AddTree(src)
	}
	if err := b.AddFile(src); err != nil {
		return err
	}
	dir := filepath.Dir(src)
	for _, sub := range []string{"group_vars", "host_vars"} {
		if st, err := os.Stat(filepath.Join(dir, sub)); err == nil && st.IsDir() {
			if err := b.AddTree(filepath.Join(dir, sub)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Bytes returns the bundle as a gzipped tar.
func (b *Bundle) Bytes() ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for p, data := range b.files {
		hdr := &tar.Header{Name: strings.TrimPrefix(filepath.ToSlash(p), "/"), Mode: 0o600, Size: int64(len(data)),
			ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Unpack writes a bundle below root: the file /a/b.yml of the submitter's
// machine becomes root/a/b.yml. Paths that would leave root are refused.
func Unpack(data []byte, root string) error {
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("unpacking bundle: %w", err)
	}
	tr := tar.NewReader(gz)
	total := 0
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("unpacking bundle: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean("/" + hdr.Name)
		dst := filepath.Join(root, filepath.FromSlash(name))
		if !strings.HasPrefix(dst, filepath.Clean(root)+string(filepath.Separator)) {
			return fmt.Errorf("unpacking bundle: bad path %q", hdr.Name)
		}
		total += int(hdr.Size)
		if total > MaxBundleBytes {
			return fmt.Errorf("unpacking bundle: %w", ErrBundleTooLarge)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return err
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, io.LimitReader(tr, MaxFileBytes+1))
		cerr := f.Close()
		if err != nil {
			return err
		}
		if cerr != nil {
			return cerr
		}
	}
}

// Rebase returns where an absolute path of the submitter's machine is once
// the bundle is unpacked below root; non-paths (host lists) are returned
// as they are.
func Rebase(root, p string) string {
	if !filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(root, p)
}
