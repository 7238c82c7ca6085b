package mime

import "encoding/binary"

// b64Pairs maps 12 bits to the two base64 characters that encode them, the first in the
// low byte: one lookup per 12 bits instead of one per 6. It is 8 KiB, filled once at
// init and only read afterwards.
var b64Pairs = func() (t [4096]uint16) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range t {
		t[i] = uint16(alphabet[i>>6]) | uint16(alphabet[i&63])<<8
	}
	return t
}()

// encodeLine encodes one whole base64 line: 57 bytes into 76 characters, the same bytes
// encoding/base64's StdEncoding writes. It reads 8 bytes at a time and uses 6 of them,
// turning each 12 bits into two characters with one lookup and storing 8 characters at
// once; the constant offsets let the compiler drop every bounds check.
func encodeLine(dst *[b64Out]byte, src *[b64In]byte) {
	t := &b64Pairs
	encode6(t, dst[0:8], src[0:8])
	encode6(t, dst[8:16], src[6:14])
	encode6(t, dst[16:24], src[12:20])
	encode6(t, dst[24:32], src[18:26])
	encode6(t, dst[32:40], src[24:32])
	encode6(t, dst[40:48], src[30:38])
	encode6(t, dst[48:56], src[36:44])
	encode6(t, dst[56:64], src[42:50])
	encode6(t, dst[64:72], src[48:56])
	// The last 3 bytes (54-56): an 8-byte load would run past the line.
	v := uint(src[54])<<16 | uint(src[55])<<8 | uint(src[56])
	binary.LittleEndian.PutUint32(dst[72:76], uint32(t[v>>12])|uint32(t[v&0xfff])<<16)
}

// encode6 encodes the first 6 of the 8 bytes of src into the 8 characters of dst.
func encode6(t *[4096]uint16, dst, src []byte) {
	v := binary.BigEndian.Uint64(src)
	binary.LittleEndian.PutUint64(dst, uint64(t[v>>52])|uint64(t[v>>40&0xfff])<<16|
		uint64(t[v>>28&0xfff])<<32|uint64(t[v>>16&0xfff])<<48)
}
