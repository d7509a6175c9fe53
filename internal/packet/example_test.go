package packet_test

import (
	"encoding/hex"
	"fmt"

	"github.com/sesame-knock/sesame/internal/packet"
)

func ExampleDecode() {
	// A TCP SYN from 198.18.0.2:40000 to 198.18.0.1:7000 as a tun device
	// delivers it: no link header, checksums not filled in.
	frame, _ := hex.DecodeString(
		"450000281234400040060000c6120002c6120001" + // IPv4
			"9c401b58000003e8000000005002faf000000000") // TCP
	var h packet.Hit
	if err := packet.Decode(packet.LinkRaw, frame, &h); err != nil {
		fmt.Println("not a knock:", err)
		return
	}
	fmt.Println(h)
	fmt.Println("probe:", h.Probe())
	// Output:
	// 198.18.0.2:40000 -> 198.18.0.1:7000 tcp [syn]
	// probe: true
}
