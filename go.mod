module github.com/sesame-knock/sesame

go 1.26.8

require (
	github.com/gopacket/gopacket v1.7.7 // indirect
	github.com/spf13/pflag v1.0.10 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
