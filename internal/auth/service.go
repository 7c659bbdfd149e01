package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// The auth modes of SPEC 2.7.
const (
	ModeAuto     = "auto"
	ModeRequired = "required"
	ModeOpen     = "open"
)

// Verifier resolves one kind of credential other than Tollgate's login
// JWTs (API keys, static tokens, browser sessions). Verify returns
// (nil, nil) when cred is not of its kind, so the next verifier is asked;
// a credential of its kind that does not verify is a 401
// invalid_authorization *gateway.Error.
type Verifier interface {
	Verify(ctx context.Context, cred Credential) (*gateway.Principal, error)
}

// ExchangeResolver resolves the subject of an exchanged JWT to the
// principal of its key or static token, 401 invalid_authorization once
// that credential is revoked, expired or gone.
type ExchangeResolver interface {
	ResolveExchange(ctx context.Context, subject string) (*gateway.Principal, error)
}

// Syncer is a Verifier with state shared between instances; Sync refreshes
// it from the database on every tick of Service.Run.
type Syncer interface {
	Sync(ctx context.Context) error
}

// CredentialHolder is a Verifier that knows when this instance created a
// credential of its kind (Keys after CreateKey): auth.mode auto turns
// required at once, before the next sync tick's OtherCredentialsExist.
type CredentialHolder interface {
	HoldsCredentials() bool
}

// Options configure a Service.
type Options struct {
	Users gateway.UserStore
	// Cache is the user cache over Users, shared with Keys (KeysOptions.
	// Users); nil means a cache of the Service's own.
	Cache  *UserCache
	Tokens *Tokens
	// Mode is auth.mode; Loopback reports whether server.addr is loopback.
	Mode     string
	Loopback bool
	// TokenTTL is auth.token_ttl.
	TokenTTL            time.Duration
	RegistrationEnabled bool
	DefaultRole         gateway.Role
	AllowedEmailDomains []string
	// CacheSyncInterval is how often Run polls the database for user
	// changes made by other instances.
	CacheSyncInterval time.Duration
	// Freshness bounds how long cached credentials are trusted while Sync
	// fails (auth.cache_max_staleness); Sync reports its successes to it.
	// Nil: no bound. Share it with the UserCache and Keys.
	Freshness *Freshness
	// DataDir receives the setup-token file.
	DataDir string
	// Password are the argon2id parameters new hashes use (default
	// DefaultPasswordParams); hashes with other parameters are rehashed on
	// login.
	Password PasswordParams
	// Hashes bounds concurrent argon2id work (auth.password_hash_concurrency,
	// auth.password_hash_wait); nil means NewHashLimiter(
	// DefaultHashConcurrency(Password), DefaultHashWait).
	Hashes *HashLimiter
	// Verifiers resolve the credentials that are not login JWTs, asked in
	// order before the JWT check (the API key issue adds one). Verifiers
	// that implement Syncer are synced on every tick of Run, those that
	// implement CredentialHolder count as other credentials for auto mode.
	Verifiers []Verifier
	// OtherCredentialsExist is the auth.mode=auto hook: it reports whether
	// credentials other than users exist (API keys). Nil means none. It is
	// called at Init and on every sync tick, never per request.
	OtherCredentialsExist func(ctx context.Context) (bool, error)
	// Exchange resolves the subject of exchanged JWTs (typ "exchange");
	// nil refuses them.
	Exchange ExchangeResolver
	Log      *slog.Logger
	Now      func() time.Time

	// Sessions stores browser sessions (SPEC 4); nil: session cookies are
	// refused like any credential that does not verify.
	Sessions gateway.SessionStore
	// SessionIdle and SessionAbsolute are auth.session_idle and
	// auth.session_absolute; MaxSessionsPerUser is
	// auth.max_sessions_per_user (<= 0: no cap).
	SessionIdle        time.Duration
	SessionAbsolute    time.Duration
	MaxSessionsPerUser int
	// SessionSweepInterval is how often Run deletes sessions past their
	// idle or absolute end (default DefaultSessionSweepInterval).
	SessionSweepInterval time.Duration
	// PublicURL is server.public_url: an https URL makes the session
	// cookie Secure with the __Host- prefix, and its origin is trusted by
	// the cross-origin check of cookie requests.
	PublicURL string
	// ClientIP returns a request's client address (recorded with a new
	// session); nil records none.
	ClientIP func(*http.Request) string
	// Audit records every change and login (nil: nothing is recorded).
	Audit gateway.Auditor
}

// Service is the identity service: users, login, tokens, modes, setup
// and the request Authenticator.
type Service struct {
	opt   Options
	cache *UserCache

	hasUsers   atomic.Bool // sticky: users are never deleted
	otherCreds atomic.Bool
	// openChecked is when openNow last asked the database (unix nanos).
	openChecked atomic.Int64
	setupMu     sync.Mutex
	setupToken  gateway.Secret
	lastSync    time.Time // guarded by syncMu
	syncMu      sync.Mutex
	dummyOnce   sync.Once
	dummyHash   string
	sess        sessionConfig
	initErr     error
	sessNow     atomic.Pointer[func() time.Time] // SetSessionClock
	audit       gateway.Auditor
}

// New returns a Service; call Init before serving.
func New(opt Options) *Service {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Password == (PasswordParams{}) {
		opt.Password = DefaultPasswordParams()
	}
	if opt.Hashes == nil {
		opt.Hashes = NewHashLimiter(DefaultHashConcurrency(opt.Password), DefaultHashWait)
	}
	if opt.TokenTTL <= 0 {
		opt.TokenTTL = 24 * time.Hour
	}
	if opt.DefaultRole == gateway.RoleNone {
		opt.DefaultRole = gateway.RoleContributor
	}
	if opt.CacheSyncInterval <= 0 {
		opt.CacheSyncInterval = 2 * time.Second
	}
	if opt.Mode == "" {
		opt.Mode = ModeAuto
	}
	if opt.Cache == nil {
		opt.Cache = NewUserCache(opt.Users, opt.Freshness, 0)
	}
	if opt.SessionIdle <= 0 {
		opt.SessionIdle = 8 * time.Hour
	}
	if opt.SessionAbsolute <= 0 {
		opt.SessionAbsolute = 7 * 24 * time.Hour
	}
	if opt.SessionSweepInterval <= 0 {
		opt.SessionSweepInterval = DefaultSessionSweepInterval
	}
	s := &Service{opt: opt, cache: opt.Cache, audit: auditorOr(opt.Audit)}
	s.sess, s.initErr = newSessionConfig(opt.PublicURL)
	if s.initErr != nil {
		s.initErr = fmt.Errorf("public url: %w", s.initErr)
	}
	return s
}

// SetupTokenFile is the name of the setup-token file in the data dir.
const SetupTokenFile = "setup-token"

// Init loads what the request path needs: whether users and other
// credentials exist.
func (s *Service) Init(ctx context.Context) error {
	if s.initErr != nil {
		return s.initErr
	}
	s.syncMu.Lock()
	s.lastSync = s.opt.Now()
	s.syncMu.Unlock()
	if err := s.refreshCounts(ctx); err != nil {
		return fmt.Errorf("auth init: %w", err)
	}
	s.dummy() // the first unknown-email login must not pay for it
	return nil
}

// PrepareSetup is called once by the server at start (not by other
// commands): on a non-loopback address with no users it creates the
// one-time setup token, logs it (the one secret Tollgate ever logs, on
// purpose: the operator needs it) and writes it to <data_dir>/setup-token
// with mode 0600.
func (s *Service) PrepareSetup(ctx context.Context) error {
	if s.hasUsers.Load() || s.opt.Loopback || s.opt.Mode == ModeOpen {
		return nil
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("setup token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	path := filepath.Join(s.opt.DataDir, SetupTokenFile)
	if err := os.MkdirAll(s.opt.DataDir, 0o700); err != nil {
		return fmt.Errorf("setup token: %w", err)
	}
	_ = os.Remove(path)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return fmt.Errorf("setup token: %w", err)
	}
	s.setupMu.Lock()
	s.setupToken = gateway.Secret(tok)
	s.setupMu.Unlock()
	s.opt.Log.WarnContext(ctx, "setup token: no user exists yet; create the first admin with POST /api/setup and this one-time setup token",
		"setup_token", tok, "file", path)
	return nil
}

func (s *Service) refreshCounts(ctx context.Context) error {
	if !s.hasUsers.Load() {
		ok, err := s.opt.Users.AnyUsers(ctx)
		if err != nil {
			return err
		}
		if ok {
			s.hasUsers.Store(true)
		}
	}
	if s.opt.OtherCredentialsExist != nil && !s.otherCreds.Load() {
		ok, err := s.opt.OtherCredentialsExist(ctx)
		if err != nil {
			return err
		}
		s.otherCreds.Store(ok)
	}
	return nil
}

// Run polls the database every CacheSyncInterval for users changed by
// other instances and refreshes the cache, and every SessionSweepInterval
// deletes the sessions that have ended (SweepSessions), until ctx ends.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.opt.CacheSyncInterval)
	defer t.Stop()
	var sweep <-chan time.Time
	if s.opt.Sessions != nil {
		st := time.NewTicker(s.opt.SessionSweepInterval)
		defer st.Stop()
		sweep = st.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
				s.opt.Log.WarnContext(ctx, "auth cache sync failed", "err", err)
			}
		case <-sweep:
			if _, err := s.SweepSessions(ctx); err != nil && ctx.Err() == nil {
				s.opt.Log.WarnContext(ctx, "session sweep failed", "err", err)
			}
		}
	}
}

// syncOverlap re-reads changes this far back on every poll, so a row
// written by an instance whose clock lags (or a transaction that commits
// late) is still seen.
const syncOverlap = 10 * time.Second

// Sync refreshes the cache from the users changed since the last sync,
// then the Syncer verifiers; a full success moves Freshness.
func (s *Service) Sync(ctx context.Context) error {
	s.syncMu.Lock()
	since := s.lastSync.Add(-syncOverlap)
	start := s.opt.Now()
	s.syncMu.Unlock()
	realStart := time.Now()
	changed, err := s.opt.Users.UsersChangedSince(ctx, since)
	if err != nil {
		return err
	}
	s.cache.update(changed)
	if err := s.refreshCounts(ctx); err != nil {
		return err
	}
	for _, v := range s.opt.Verifiers {
		if sy, ok := v.(Syncer); ok {
			if err := sy.Sync(ctx); err != nil {
				return err
			}
		}
	}
	s.syncMu.Lock()
	s.lastSync = start
	s.syncMu.Unlock()
	s.opt.Freshness.Synced(realStart)
	// Last-use writes come after: their failure does not make the
	// caches stale.
	for _, v := range s.opt.Verifiers {
		if f, ok := v.(interface{ Flush(context.Context) error }); ok {
			if err := f.Flush(ctx); err != nil {
				return fmt.Errorf("flush last use: %w", err)
			}
		}
	}
	return nil
}

// RefreshUser re-reads user id into the cache: a push said another
// instance (or the CLI) changed it.
func (s *Service) RefreshUser(ctx context.Context, id string) error {
	return s.cache.Refresh(ctx, id)
}

// remember puts a freshly written user in the cache (this instance's
// changes take effect on the next request).
func (s *Service) remember(u gateway.User) { s.cache.put(u) }

// user returns the user id from the cache, loading it on a miss.
func (s *Service) user(ctx context.Context, id string) (gateway.User, error) {
	return s.cache.User(ctx, id)
}

// Open reports whether requests currently need no credential: auth.mode
// open, or auto on a loopback address while no user and no other
// credential exists.
func (s *Service) Open() bool {
	switch s.opt.Mode {
	case ModeOpen:
		return true
	case ModeAuto:
		return s.opt.Loopback && !s.hasUsers.Load() && !s.otherCreds.Load() && !s.verifiersHoldCredentials()
	}
	return false
}

// MarkOtherCredentials tells the service that a credential that is not a
// user now exists (static tokens loaded on SIGHUP), so auto mode turns
// required at once in this instance.
func (s *Service) MarkOtherCredentials() { s.otherCreds.Store(true) }

// verifiersHoldCredentials reports whether a CredentialHolder among the
// verifiers created a credential in this instance (remembered: credentials
// are never deleted for auto mode's purposes).
func (s *Service) verifiersHoldCredentials() bool {
	for _, v := range s.opt.Verifiers {
		if h, ok := v.(CredentialHolder); ok && h.HoldsCredentials() {
			s.otherCreds.Store(true)
			return true
		}
	}
	return false
}

// Status is GET /api/auth/status.
func (s *Service) Status(ctx context.Context) (gateway.AuthStatus, error) {
	if err := s.refreshCounts(ctx); err != nil {
		return gateway.AuthStatus{}, gateway.Internal("auth status", err)
	}
	mode := ModeRequired
	if s.Open() {
		mode = ModeOpen
	}
	return gateway.AuthStatus{Mode: mode, SetupRequired: !s.hasUsers.Load(),
		RegistrationEnabled: s.opt.RegistrationEnabled}, nil
}

// LocalPrincipal is the built-in admin of open mode.
func LocalPrincipal() *gateway.Principal {
	return &gateway.Principal{Kind: gateway.PrincipalLocal, UserID: gateway.LocalUserID, DisplayName: "local", Role: gateway.RoleAdmin}
}

// errors shared by the flows.
var (
	errInvalidCredentials = gateway.E(gateway.KindUnauthenticated, "invalid_credentials", "Invalid email or password")
	errAlreadySetUp       = gateway.E(gateway.KindConflict, "already_set_up", "Tollgate is already set up")
	errEmailTaken         = gateway.E(gateway.KindConflict, "email_taken", "A user with this email already exists")
	errLastAdmin          = gateway.E(gateway.KindConflict, "last_admin", "This would leave no active admin")
	errUserNotFound       = gateway.NotFound("not_found", "No such user")
)

func mapStoreErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gateway.ErrNotFound):
		return errUserNotFound
	case errors.Is(err, gateway.ErrConflict):
		return errEmailTaken
	case errors.Is(err, gateway.ErrLastAdmin):
		return errLastAdmin
	}
	return gateway.Internal(op, err)
}
