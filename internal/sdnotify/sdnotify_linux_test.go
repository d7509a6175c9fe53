package sdnotify

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// TestNotifyAbstract: systemd's own socket is a path, but a container
// manager or a test harness may pass an abstract name (@…).
func TestNotifyAbstract(t *testing.T) {
	name := fmt.Sprintf("@sesame-sdnotify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	conn := listen(t, name)
	check(t, conn)
}
