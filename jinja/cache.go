package jinja

import "sync"

// Cache bounds: the number of templates, and the total size of their sources
// (a parsed template takes several times its source size). Larger templates
// (whole files given to the template module) are not cached.
const (
	maxCacheBytes     = 8 << 20
	maxCachedTemplate = 256 << 10
)

// templateCache is a bounded LRU cache of compiled templates keyed by source.
type templateCache struct {
	mu    sync.Mutex
	max   int
	bytes int
	items map[string]*cacheEntry
	head  *cacheEntry // most recently used
	tail  *cacheEntry
}

type cacheEntry struct {
	key        string
	val        *compiled
	prev, next *cacheEntry
}

func newTemplateCache(max int) *templateCache {
	return &templateCache{max: max, items: make(map[string]*cacheEntry)}
}

func (c *templateCache) get(key string) (*compiled, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.moveToFront(e)
	return e.val, true
}

func (c *templateCache) put(key string, val *compiled) {
	if len(key) > maxCachedTemplate {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		e.val = val
		c.moveToFront(e)
		return
	}
	e := &cacheEntry{key: key, val: val}
	c.items[key] = e
	c.bytes += len(key)
	c.pushFront(e)
	for (len(c.items) > c.max || c.bytes > maxCacheBytes) && c.tail != nil {
		old := c.tail
		c.unlink(old)
		delete(c.items, old.key)
		c.bytes -= len(old.key)
	}
}

func (c *templateCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items = make(map[string]*cacheEntry)
	c.head, c.tail = nil, nil
	c.bytes = 0
}

func (c *templateCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

func (c *templateCache) pushFront(e *cacheEntry) {
	e.prev, e.next = nil, c.head
	if c.head != nil {
		c.head.prev = e
	}
	c.head = e
	if c.tail == nil {
		c.tail = e
	}
}

func (c *templateCache) unlink(e *cacheEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		c.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		c.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (c *templateCache) moveToFront(e *cacheEntry) {
	if c.head == e {
		return
	}
	c.unlink(e)
	c.pushFront(e)
}
