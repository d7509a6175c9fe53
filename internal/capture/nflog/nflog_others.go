//go:build !linux

package nflog

import (
	"context"
	"errors"
	"runtime"

	"github.com/sesame-knock/sesame/internal/capture"
)

var errNotSupported = errors.New("nflog capture is not supported on " + runtime.GOOS)

// Source is the Linux nflog source; on other systems it cannot be opened.
type Source struct{}

var _ capture.Source = (*Source)(nil)

// Open fails: nflog exists only on Linux.
func Open(group uint16, spec capture.FilterSpec, opts Options) (*Source, error) {
	return nil, errNotSupported
}

// Run fails: nflog exists only on Linux.
func (s *Source) Run(ctx context.Context, sink capture.Sink) error { return errNotSupported }

// Close does nothing.
func (s *Source) Close() error { return nil }

// Name is "nflog".
func (s *Source) Name() string { return "nflog" }

// Stats returns zeros.
func (s *Source) Stats() capture.Stats { return capture.Stats{} }
