//go:build !linux

package control

import "net"

// listen binds a unix stream socket at path. Listen restricts it to 0600
// right after.
func listen(path string) (*net.UnixListener, error) {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false) // Server.Close removes the file, if still ours
	return ln, nil
}

// peerUID is not implemented off Linux: the socket's mode alone keeps
// other users out.
func peerUID(c *net.UnixConn) (int, error) { return 0, errNoPeerCred }
