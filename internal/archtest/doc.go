// Package archtest checks the module's layout rules of
// ARCHITECTURE.md ("dependencies point inward") by parsing the imports of
// every Go file, tests included. It has no code of its own.
package archtest
