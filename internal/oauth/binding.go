package oauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
)

// BindingCookie is the cookie that binds a started flow (state, PKCE
// verifier, nonce, the user linking) to the browser. Its value is sealed
// with AES-256-GCM under Options.BindingKey: the browser can neither read
// the verifier nor forge a state.
const BindingCookie = "tollgate_oauth"

// bindingPath scopes the cookie to the OAuth routes.
const bindingPath = "/api/auth/oauth/"

// binding is the sealed content of the binding cookie.
type binding struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Verifier string `json:"v"`
	Nonce    string `json:"n,omitempty"`
	LinkUser string `json:"u,omitempty"`
	Expires  int64  `json:"e"` // unix seconds
}

type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if len(key) != 32 {
		return nil, errors.New("oauth: binding key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(b binding) (string, error) {
	plain, err := json.Marshal(b)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := s.aead.Seal(nonce, nonce, plain, []byte(BindingCookie))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

func (s *sealer) open(v string) (binding, error) {
	var b binding
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return b, errors.New("binding cookie is malformed")
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(BindingCookie))
	if err != nil {
		return b, errors.New("binding cookie does not verify")
	}
	if err := json.Unmarshal(plain, &b); err != nil {
		return b, errors.New("binding cookie is malformed")
	}
	return b, nil
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
