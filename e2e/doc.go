// Package e2e tests gorun as its users run it: built binaries (gorun,
// dispatcher, executor) as separate processes, real NATS servers (one, or
// a 3-node cluster), and real sshd hosts on loopback; and it kills those
// processes with kill -9 to check that no job is lost or run twice.
package e2e
