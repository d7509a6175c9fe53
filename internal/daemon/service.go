package daemon

// Running as a service: telling systemd where the daemon is (sd_notify),
// and giving up the privileges it no longer needs once it is set up.

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/sesame-knock/sesame/internal/capture"
	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/privilege"
	"github.com/sesame-knock/sesame/internal/sdnotify"
)

// notify sends one of sdnotify's messages, logging (not failing) when
// systemd cannot be told: the daemon works all the same.
func notify(log *slog.Logger, what string, send func() error) {
	if err := send(); err != nil {
		log.Warn("cannot notify systemd", "state", what, "err", err)
	}
}

func status(log *slog.Logger, format string, args ...any) {
	notify(log, "STATUS", func() error { return sdnotify.Status(fmt.Sprintf(format, args...)) })
}

// runsCommands reports whether some event of cfg runs commands of the
// administrator's, which may need any of root's powers.
func runsCommands(cfg *config.Config) bool {
	for _, ev := range cfg.Events {
		if ev.StartCommand != "" || ev.StartCommand6 != "" || ev.StopCommand != "" || ev.StopCommand6 != "" {
			return true
		}
	}
	return false
}

// needed is what the daemon keeps after set-up: capturing (AF_PACKET,
// NFLOG) and the firewall need CAP_NET_RAW and CAP_NET_ADMIN, also to
// reopen a capture when an interface comes back or a reload changes it;
// a UDP capture on a port below 1024, binding it again, needs
// CAP_NET_BIND_SERVICE.
func needed(cfg *config.Config, spec capture.FilterSpec) []privilege.Cap {
	caps := []privilege.Cap{privilege.NetRaw, privilege.NetAdmin}
	for _, c := range captures(cfg) {
		if c.Kind == config.CaptureUDP && len(spec.UDPPorts) > 0 && spec.UDPPorts[0] < 1024 {
			return append(caps, privilege.NetBindService)
		}
	}
	return caps
}

// dropPrivileges keeps only what the daemon needs, on every thread and in
// the bounding set (so commands started later get no more either), unless
// commands are configured: they run as the administrator wrote them, with
// what the service manager gave the daemon. It reports whether it
// dropped, and what it kept.
func dropPrivileges(log *slog.Logger, cfg *config.Config, spec capture.FilterSpec) (bool, privilege.Set) {
	if os.Geteuid() != 0 {
		return false, 0 // not root: nothing beyond what we were given to drop
	}
	if runsCommands(cfg) {
		log.Info("keeping privileges: events run commands, which may need them", "hint", "events with native doors (Open =) and no commands let sesamed keep only cap_net_raw and cap_net_admin")
		return false, 0
	}
	keep := needed(cfg, spec)
	if err := privilege.Keep(keep...); err != nil {
		log.Warn("cannot drop privileges; running with those given at start", "err", err)
		return false, 0
	}
	kept := privilege.SetOf(keep...)
	log.Info("privileges dropped", "kept", kept.String())
	return true, kept
}

// underSystemd reports whether systemd started the daemon as a service:
// it then knows the daemon's pid, and the unit keeps /run read-only.
func underSystemd() bool {
	return os.Getenv("INVOCATION_ID") != "" || os.Getenv(sdnotify.EnvSocket) != ""
}
