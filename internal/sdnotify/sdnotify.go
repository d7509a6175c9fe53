package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// EnvSocket is the variable through which systemd names its socket.
const EnvSocket = "NOTIFY_SOCKET"

// Notify sends state, one or more newline-separated VAR=value assignments,
// as one datagram to $NOTIFY_SOCKET. Without $NOTIFY_SOCKET it does
// nothing and returns nil.
func Notify(state string) error {
	addr := os.Getenv(EnvSocket)
	if addr == "" {
		return nil
	}
	if addr[0] != '/' && addr[0] != '@' {
		// systemd ≥ 254 also knows vsock:CID:PORT, used only by
		// virtual machines reporting to their host.
		return fmt.Errorf("failed to notify systemd: unsupported %s=%q, expected a path or an @abstract name", EnvSocket, addr)
	}
	// The standard library turns a leading '@' into the NUL byte of an
	// abstract name (Linux).
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("failed to notify systemd: %w", err)
	}
	defer conn.Close()
	n, err := conn.Write([]byte(state))
	if err == nil && n != len(state) {
		err = errors.New("short write")
	}
	if err != nil {
		return fmt.Errorf("failed to notify systemd (%s): %w", firstLine(state), err)
	}
	return nil
}

// Ready says that start-up (or a reload) has finished: every capture is
// open. Until it is sent, `systemctl start` waits.
func Ready() error { return Notify("READY=1") }

// Stopping says that the daemon is shutting down (running its stop
// commands, removing its firewall objects).
func Stopping() error { return Notify("STOPPING=1") }

// Reloading says that the daemon is reloading its configuration; Ready
// must follow once it has done so, whether the new configuration was
// taken or refused. It carries the CLOCK_MONOTONIC time that systemd ≥ 253
// wants for Type=notify-reload; older systemd and Type=notify ignore it.
func Reloading() error {
	if os.Getenv(EnvSocket) == "" {
		return nil
	}
	usec, err := monotonicUsec()
	if err != nil {
		return fmt.Errorf("failed to notify systemd (RELOADING=1): %w", err)
	}
	return Notify("RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatUint(usec, 10))
}

// Status sets the one-line text `systemctl status` shows. Newlines in s
// become spaces: a new line would be read as another assignment.
func Status(s string) error {
	return Notify("STATUS=" + strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s))
}

// MainPID tells systemd which process is the service's main process, for
// when that is not the process systemd started (sesamed -d, which starts
// the daemon as a child and exits).
func MainPID(pid int) error {
	if pid <= 0 {
		return fmt.Errorf("failed to notify systemd: invalid MAINPID %d", pid)
	}
	return Notify("MAINPID=" + strconv.Itoa(pid))
}

// firstLine is the first assignment of state, for error messages.
func firstLine(state string) string {
	line, _, _ := strings.Cut(state, "\n")
	return line
}
