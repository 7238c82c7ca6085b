//go:build !race

package mime_test

const raceEnabled = false
