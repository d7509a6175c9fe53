//go:build !windows && !plan9

package daemon

import (
	"io"
	"log/slog"
	"log/syslog"
)

// newSyslogHandler logs to the local syslog daemon (facility daemon, tag
// sesamed), as knockd's UseSyslog does. Records are written as text
// key=value lines so fail2ban filters work on both the file and syslog.
func newSyslogHandler(o *slog.HandlerOptions) (slog.Handler, io.Closer, error) {
	w, err := syslog.New(syslog.LOG_INFO|syslog.LOG_DAEMON, "sesamed")
	if err != nil {
		return nil, nil, err
	}
	return slog.NewTextHandler(w, o), w, nil
}
