package nflog

import (
	"errors"
	"fmt"
	"strings"

	nft "github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// installed is sesame's log table in the kernel, with the netlink
// connection that will remove it.
type installed struct {
	conn  *nft.Conn
	table *nft.Table
}

// install puts rs in place in one atomic batch. A table of that name left
// by a crashed run is deleted in the same batch (add, delete, add: the
// first add makes the delete valid when there is none), so Open is
// idempotent and no moment passes without the rules. The name carries the
// group, and Open installs only after binding the group, which fails while
// another source holds it: so a table of that name is never a live
// source's, and another group's table is never touched.
func install(rs *ruleset, opts ...nft.ConnOption) (*installed, error) {
	c, err := nft.New(append([]nft.ConnOption{nft.AsLasting()}, opts...)...)
	if err != nil {
		return nil, permission(err)
	}
	c.AddTable(rs.table)
	c.DelTable(rs.table)
	c.AddTable(rs.table)
	c.AddChain(rs.chain)
	for _, s := range rs.sets {
		if err := c.AddSet(s.set, s.elems); err != nil {
			_ = c.CloseLasting()
			return nil, err
		}
	}
	for _, r := range rs.rules {
		c.AddRule(r)
	}
	if err := c.Flush(); err != nil {
		_ = c.CloseLasting()
		return nil, permission(err)
	}
	return &installed{conn: c, table: rs.table}, nil
}

// remove deletes the table (add then delete, so that a table someone else
// removed already is no error) and closes the connection.
func (in *installed) remove() error {
	in.conn.AddTable(in.table)
	in.conn.DelTable(in.table)
	err := in.conn.Flush()
	_ = in.conn.CloseLasting()
	if err != nil {
		return fmt.Errorf("failed to remove the nflog rule (table inet %s): %w", in.table.Name, permission(err))
	}
	return nil
}

// permission makes sure a lack of privilege is errors.Is(err,
// os.ErrPermission): some of google/nftables' errors are formatted with
// %v, which drops the errno.
func permission(err error) error {
	if err == nil || errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), unix.EPERM.Error()) {
		return err
	}
	return permError{err}
}

// permError is an error whose text says "operation not permitted" but
// whose chain lost the errno.
type permError struct{ error }

func (e permError) Unwrap() []error { return []error{e.error, unix.EPERM} }
