package mantest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

const usage = `Usage: p [options]

Options:
  -c, --config FILE   the file; --conf FILE is accepted too
  -C, --check [FILE]  check it
  -v, --verbose       say more
`

func TestFlagErrors(t *testing.T) {
	t.Parallel()
	const roff = `\fB\-c\fR, \fB\%\-\-config\fR \fB\%\-\-check\fR \fB\%\-\-verbose\fR`
	tests := []struct {
		name   string
		define func(fs *pflag.FlagSet)
		roff   string
		want   []string
	}{
		{
			name: "the same flags",
			define: func(fs *pflag.FlagSet) {
				fs.StringP("config", "c", "", "")
				fs.String("conf", "", "")
				fs.StringP("check", "C", "", "")
				fs.Lookup("check").NoOptDefVal = "x"
				fs.BoolP("verbose", "v", false, "")
			},
			roff: roff,
		},
		{
			name: "every kind of difference",
			define: func(fs *pflag.FlagSet) {
				fs.StringP("config", "f", "", "")
				fs.StringP("check", "C", "", "")
				fs.StringP("verbose", "v", "", "")
				fs.Bool("quiet", false, "")
			},
			roff: `\fB\%\-\-config\fR`,
			want: []string{
				`--help documents --check [FILE], but its value is required`,
				`--help documents --config with short name "c", p takes "f"`,
				`p accepts --quiet, which --help does not document`,
				`--help documents --verbose without a value, but it takes one (string)`,
				`the man page does not document --check`,
				`the man page does not document --verbose`,
			},
		},
		{
			name: "documented, not accepted",
			define: func(fs *pflag.FlagSet) {
				fs.StringP("config", "c", "", "")
				fs.BoolP("check", "C", false, "")
			},
			roff: roff,
			want: []string{
				`--help documents --check [FILE], but it is a switch that takes no value`,
				`--help (line 6) documents --verbose, which p does not accept`,
			},
		},
		{
			name:   "no flags",
			define: func(*pflag.FlagSet) {},
			want:   []string{"the flag set is empty: was flagSetHook called?"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := pflag.NewFlagSet("p", pflag.ContinueOnError)
			tt.define(fs)
			got := FlagErrors(Program{Name: "p", Usage: usage}, fs, []byte(tt.roff))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("FlagErrors (-want +got):\n%s", diff)
			}
		})
	}
}
