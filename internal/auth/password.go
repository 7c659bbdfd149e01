// Package auth is Tollgate's identity layer: argon2id passwords, JWT access
// tokens, credential extraction from requests, principal resolution through
// an in-memory user cache, auth modes, setup and registration.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/tollgate/tollgate/internal/gateway"
)

// PasswordParams are the argon2id cost parameters.
type PasswordParams struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
	SaltLen   int
	KeyLen    uint32
}

// DefaultPasswordParams are OWASP's minimum for argon2id: m=19 MiB, t=2, p=1.
func DefaultPasswordParams() PasswordParams {
	return PasswordParams{MemoryKiB: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Password length bounds in bytes (SPEC 2.1), checked exactly as received.
const (
	MinPasswordBytes = 8
	MaxPasswordBytes = 1024
)

// CheckPassword returns 400 weak_password (param body.password) unless pw
// is 8 to 1024 bytes long and not one of the most common passwords
// (compared case-insensitively). It neither trims nor truncates. Every
// flow that sets a password calls it.
func CheckPassword(pw gateway.Secret) error {
	if n := len(pw.Reveal()); n < MinPasswordBytes || n > MaxPasswordBytes {
		return gateway.Invalid("weak_password", "body.password",
			fmt.Sprintf("password must be %d to %d bytes long", MinPasswordBytes, MaxPasswordBytes))
	}
	if IsCommonPassword(pw.Reveal()) {
		return gateway.Invalid("weak_password", "body.password",
			"password is one of the most commonly used passwords; choose another")
	}
	return nil
}

var b64 = base64.RawStdEncoding

// HashPassword returns the PHC string of pw under p:
// $argon2id$v=19$m=...,t=...,p=...$salt$hash.
func HashPassword(pw gateway.Secret, p PasswordParams) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(pw.Reveal()), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// errBadHash reports a stored hash that is not an argon2id PHC string.
var errBadHash = errors.New("password hash is not an argon2id PHC string")

type phc struct {
	p    PasswordParams
	salt []byte
	key  []byte
}

func parsePHC(s string) (phc, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return phc{}, errBadHash
	}
	var h phc
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil || n == 0 {
			return phc{}, errBadHash
		}
		switch k {
		case "m":
			h.p.MemoryKiB = uint32(n)
		case "t":
			h.p.Time = uint32(n)
		case "p":
			if n > 255 {
				return phc{}, errBadHash
			}
			h.p.Threads = uint8(n)
		default:
			return phc{}, errBadHash
		}
	}
	var err error
	if h.salt, err = b64.DecodeString(parts[4]); err != nil || len(h.salt) == 0 {
		return phc{}, errBadHash
	}
	if h.key, err = b64.DecodeString(parts[5]); err != nil || len(h.key) == 0 {
		return phc{}, errBadHash
	}
	if h.p.MemoryKiB == 0 || h.p.Time == 0 || h.p.Threads == 0 || h.p.MemoryKiB > 4<<20 || h.p.Time > 64 {
		return phc{}, errBadHash
	}
	h.p.SaltLen, h.p.KeyLen = len(h.salt), uint32(len(h.key))
	return h, nil
}

// VerifyPassword reports whether pw matches the PHC string hash, comparing
// in constant time, and whether the hash should be recomputed because its
// parameters differ from want. A malformed hash is an error.
func VerifyPassword(pw gateway.Secret, hash string, want PasswordParams) (ok, rehash bool, err error) {
	h, err := parsePHC(hash)
	if err != nil {
		return false, false, err
	}
	key := argon2.IDKey([]byte(pw.Reveal()), h.salt, h.p.Time, h.p.MemoryKiB, h.p.Threads, h.p.KeyLen)
	ok = subtle.ConstantTimeCompare(key, h.key) == 1
	rehash = h.p.MemoryKiB != want.MemoryKiB || h.p.Time != want.Time || h.p.Threads != want.Threads ||
		h.p.KeyLen != want.KeyLen || h.p.SaltLen != want.SaltLen
	return ok, rehash, nil
}
