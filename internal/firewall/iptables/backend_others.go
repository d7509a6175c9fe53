//go:build !linux

package iptables

import (
	"context"
	"errors"
	"runtime"

	"github.com/sesame-knock/sesame/internal/firewall"
)

var errUnsupported = errors.New("iptables is not supported on " + runtime.GOOS)

// Backend is the iptables + ipset backend; it exists only on Linux.
type Backend struct{}

var _ firewall.Backend = (*Backend)(nil)

// New fails: iptables and ipset are Linux only.
func New(cfg Config) (*Backend, error) {
	return nil, &firewall.Error{Backend: backendName, Op: "connect", Err: errUnsupported}
}

func (b *Backend) Name() string { return backendName }

func (b *Backend) Reconcile(ctx context.Context, guarded []firewall.Port) error {
	return &firewall.Error{Backend: backendName, Op: "reconcile", Err: errUnsupported}
}

func (b *Backend) Open(ctx context.Context, doors []firewall.Door) error {
	return &firewall.Error{Backend: backendName, Op: "open", Err: errUnsupported}
}

func (b *Backend) List(ctx context.Context) ([]firewall.Entry, error) {
	return nil, &firewall.Error{Backend: backendName, Op: "list", Err: errUnsupported}
}

func (b *Backend) Cleanup(ctx context.Context) error {
	return &firewall.Error{Backend: backendName, Op: "cleanup", Err: errUnsupported}
}

func (b *Backend) Close() error { return nil }
