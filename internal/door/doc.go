// Package door is what happens when a knock succeeds. The Runner is the
// command door: knockd's Start_Command, then Stop_Command Cmd_Timeout
// later, run through /bin/sh -c with %IP% replaced by the canonical text of
// the source address.
//
// # Why the daemon holds the stop commands
//
// knockd forks one child per successful knock; the child runs the start
// command, sleeps Cmd_Timeout and then runs the stop command. The pending
// stop lives only in that sleeping child: a knockd that is stopped,
// restarted or killed (and every child that goes with it) leaves the door
// open for good, and a host under a burst of knocks carries one sleeping
// process per open door.
//
// sesame keeps every pending stop in the Runner instead: a small heap
// ordered by due time, with one clock timer armed for the earliest entry.
// Nothing sleeps per door. Because the stops are data, the daemon can act
// on them: at shutdown Close runs every pending stop at once (a door the
// daemon opened is closed by the daemon), and a later change can save them
// across a restart. That seam is the heap in schedule.go: persisting it is
// writing each entry (event, source, substituted stop command, due time)
// when it is pushed and deleting it when it is popped, and loading it back
// in NewRunner. Until then a stop that has not run when the process dies is
// logged at error level with its command, so an administrator can run it.
//
// # Running commands
//
// Open never blocks its caller (the capture and match path): it only
// decides what to run and hands it over. At most MaxConcurrent commands run
// at once; start commands beyond that wait in a bounded queue and are
// dropped, with an error line naming the source and event, when it is
// full. Stop commands are never dropped and go ahead of waiting start
// commands, since they close what is already open. Each command runs in
// its own session (and so its own process group), as knockd's children do,
// so a signal meant for the daemon does not reach it and shutdown does not
// kill it. Its exit status and the first few KiB of its combined output
// are logged, one record per line, with event=, src= and stage= fields.
//
// # knockd 0.8 compatibility
//
// For an IPv6 source the _6 commands are used. knockd falls back to
// Start_Command (Stop_Command) when a _6 directive is absent, each on its
// own, and runs nothing for an IPv6 source when a _6 directive is given
// with an empty value; the config parser resolves that into the model
// (config.Event), so the door takes StartCommand6 and StopCommand6 as they
// are. Other configuration formats must fill them the same way.
//
// When there is no start command, nothing runs, not even the stop command
// (knockd only forks when there is a start command). The stop command is
// due Cmd_Timeout after the start command has finished, and it runs whatever
// the start command's exit status was. An IPv4-mapped IPv6 source is
// treated as the IPv4 address it carries (knockd would use the _6 commands
// and the mapped text).
package door
