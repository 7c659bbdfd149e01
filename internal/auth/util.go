package auth

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"

	"github.com/tollgate/tollgate/internal/gateway"
)

func errorsIsConflict(err error) bool { return errors.Is(err, gateway.ErrConflict) }
func errorsIsNotFound(err error) bool { return errors.Is(err, gateway.ErrNotFound) }
func randRead(b []byte) (int, error)  { return rand.Read(b) }

func removeFile(dir, name string) error { return os.Remove(filepath.Join(dir, name)) }
