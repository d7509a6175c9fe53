// Package sdnotify tells systemd how the daemon is doing, with the
// sd_notify(3) protocol: one datagram of newline-separated VAR=value
// assignments sent to the unix socket named by $NOTIFY_SOCKET.
//
// sesamed runs as a Type=notify service so that systemd learns the daemon
// is ready only once every capture is open and the firewall is set up:
// `systemctl start sesamed` then waits for that moment and fails when the
// daemon cannot start (a bad configuration, a missing interface), instead
// of reporting success for a daemon that exits a moment later. Units that
// order themselves after sesamed (After=sesamed.service) likewise start
// only once knocks are being listened for.
//
// The protocol is small enough to write by hand: a path socket, or an
// abstract one when the name starts with '@'. Without $NOTIFY_SOCKET (not
// started by systemd, or a unit type other than notify) every function is
// a no-op that returns nil, so callers need not ask first. The variable
// is left set, because the daemon notifies several times: READY=1, then
// RELOADING=1 and READY=1 on each SIGHUP, STOPPING=1 at the end. It is
// therefore inherited by the commands the daemon runs; systemd ignores
// their messages under NotifyAccess=main.
package sdnotify
