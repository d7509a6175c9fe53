//go:build !linux

package nftables

import (
	"context"
	"errors"
	"runtime"

	"github.com/sesame-knock/sesame/internal/firewall"
)

var errNotLinux = errors.New("nftables is not supported on " + runtime.GOOS)

// Backend is the nftables firewall.Backend; it only works on Linux.
type Backend struct{}

var _ firewall.Backend = (*Backend)(nil)

func unsupported(op string) error {
	return &firewall.Error{Backend: "nftables", Op: op, Err: errNotLinux, Hint: "use a command door (Start_Command)"}
}

// New fails: nftables is Linux only.
func New(cfg Config) (*Backend, error) { return nil, unsupported("connect") }

// Available fails: nftables is Linux only.
func Available() error { return unsupported("connect") }

func (b *Backend) Name() string    { return "nftables" }
func (b *Backend) Mode() Mode      { return Guard }
func (b *Backend) Notes() []string { return nil }
func (b *Backend) Reconcile(ctx context.Context, guarded []firewall.Port) error {
	return unsupported("reconcile")
}
func (b *Backend) Open(ctx context.Context, doors []firewall.Door) error { return unsupported("open") }
func (b *Backend) List(ctx context.Context) ([]firewall.Entry, error) {
	return nil, unsupported("list")
}
func (b *Backend) Cleanup(ctx context.Context) error { return unsupported("cleanup") }
func (b *Backend) Close() error                      { return nil }
