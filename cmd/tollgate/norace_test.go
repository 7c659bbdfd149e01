//go:build !race

package main

// raceEnabled is set when the tests run under the race detector, whose
// shadow memory multiplies what memory bounds must allow.
const raceEnabled = false
