package privilege

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSetString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		set  Set
		want string
	}{
		{"empty", 0, "none"},
		{"kept", SetOf(NetRaw, NetAdmin), "cap_net_admin,cap_net_raw"},
		{"systemd unit", SetOf(NetRaw, NetAdmin, NetBindService, SetPCap), "cap_setpcap,cap_net_bind_service,cap_net_admin,cap_net_raw"},
		{"first and last named", SetOf(0, 40), "cap_chown,cap_checkpoint_restore"},
		{"unnamed", SetOf(41, 63), "cap_41,cap_63"},
		{"out of range left out", SetOf(-1, 64, NetRaw), "cap_net_raw"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.set.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSetHas(t *testing.T) {
	t.Parallel()
	s := SetOf(NetRaw, NetAdmin)
	for _, c := range []Cap{-1, 0, NetBindService, NetAdmin, NetRaw, 63, 64} {
		want := c == NetAdmin || c == NetRaw
		if got := s.Has(c); got != want {
			t.Errorf("%v.Has(%v) = %v, want %v", s, c, got, want)
		}
	}
	if diff := cmp.Diff([]Cap{NetAdmin, NetRaw}, s.Caps()); diff != "" {
		t.Errorf("Caps() (-want +got):\n%s", diff)
	}
}

// statusRoot is the start of a real /proc/self/status of a root shell in a
// container whose bounding set lacks cap_sys_resource.
const statusRoot = `Name:	cat
Umask:	0022
State:	R (running)
Tgid:	4711
Ngid:	0
Pid:	4711
PPid:	4700
TracerPid:	0
Uid:	0	0	0	0
Gid:	0	0	0	0
CapInh:	0000000000000000
CapPrm:	000001fffeffffff
CapEff:	000001fffeffffff
CapBnd:	000001fffeffffff
CapAmb:	0000000000000000
NoNewPrivs:	0
Seccomp:	0
`

func TestParseStatus(t *testing.T) {
	t.Parallel()
	full := Set(0x000001fffeffffff)
	kept := SetOf(NetRaw, NetAdmin)
	tests := []struct {
		name    string
		in      string
		want    ThreadCaps
		wantErr string
	}{
		{
			name: "root",
			in:   statusRoot,
			want: ThreadCaps{TID: 4711, Permitted: full, Effective: full, Bounding: full},
		},
		{
			name: "after Keep",
			in:   "Pid:\t9\nCapInh:\t0000000000000000\nCapPrm:\t0000000000003000\nCapEff:\t0000000000003000\nCapBnd:\t0000000000003000\nCapAmb:\t0000000000000000\n",
			want: ThreadCaps{TID: 9, Permitted: kept, Effective: kept, Bounding: kept},
		},
		{
			name: "no Pid, short and upper-case masks, no final newline",
			in:   "CapInh: 1\nCapPrm: 3000\nCapEff: 0\nCapBnd: FFFFFFFFFFFFFFFF\nCapAmb:\t2000",
			want: ThreadCaps{Inheritable: 1, Permitted: kept, Bounding: ^Set(0), Ambient: SetOf(NetRaw)},
		},
		{
			name: "other lines ignored",
			in:   "garbage\nCapInhX: zz\n" + statusRoot,
			want: ThreadCaps{TID: 4711, Permitted: full, Effective: full, Bounding: full},
		},
		{name: "empty", in: "", wantErr: "no CapInh line"},
		{name: "no CapAmb (Linux < 4.3)", in: strings.Replace(statusRoot, "CapAmb:", "Cap_Amb:", 1), wantErr: "no CapAmb line"},
		{name: "twice", in: statusRoot + "CapEff:\t0\n", wantErr: "line 18: CapEff given twice"},
		{name: "Pid twice", in: statusRoot + "Pid:\t1\n", wantErr: "line 18: Pid given twice"},
		{name: "not hex", in: strings.Replace(statusRoot, "CapPrm:\t000001fffeffffff", "CapPrm:\t0x1fffeffffff", 1), wantErr: `line 12: CapPrm "0x1fffeffffff" is not a hexadecimal mask`},
		{name: "empty mask", in: strings.Replace(statusRoot, "CapPrm:\t000001fffeffffff", "CapPrm:", 1), wantErr: `CapPrm "" is not a hexadecimal mask`},
		{name: "sign", in: strings.Replace(statusRoot, "CapBnd:\t0", "CapBnd:\t+", 1), wantErr: "is not a hexadecimal mask"},
		{name: "over 64 bits", in: strings.Replace(statusRoot, "CapEff:\t0", "CapEff:\t10", 1), wantErr: "longer than 64 bits"},
		{name: "leading zeros beyond 16 digits", in: strings.Replace(statusRoot, "CapEff:\t0", "CapEff:\t00", 1), wantErr: "longer than 64 bits"},
		{name: "bad Pid", in: strings.Replace(statusRoot, "Pid:\t4711", "Pid:\t-1", 1), wantErr: `invalid Pid "-1"`},
		{name: "Pid 0", in: strings.Replace(statusRoot, "Pid:\t4711", "Pid:\t0", 1), wantErr: `invalid Pid "0"`},
		{name: "Pid too large", in: strings.Replace(statusRoot, "Pid:\t4711", "Pid:\t2147483648", 1), wantErr: `invalid Pid`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseStatus([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, error %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseStatus (-want +got):\n%s", diff)
			}
		})
	}
}
