package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tollgate/tollgate/internal/gateway"
)

// CheckEmail returns 400 missing_field or invalid_field (body.email) unless
// email is a plain address (local@domain, at most 254 bytes).
func CheckEmail(email string) error {
	if email == "" {
		return gateway.Invalid("missing_field", "body.email", "email is required")
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || len(email) > 254 || !strings.Contains(email, "@") {
		return gateway.Invalid("invalid_field", "body.email", "email must be a plain email address")
	}
	return nil
}

func checkDisplayName(name string) error {
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > 200 {
		return gateway.Invalid("invalid_field", "body.display_name", "display_name must be at most 200 characters")
	}
	return nil
}

// checkNewUser validates the fields every user-creating flow shares.
func checkNewUser(in gateway.NewUser) error {
	if err := CheckEmail(in.Email); err != nil {
		return err
	}
	if err := CheckPassword(in.Password); err != nil {
		return err
	}
	return checkDisplayName(in.DisplayName)
}

// create hashes the password and stores the user; first selects the
// first-user (setup) insert.
func (s *Service) create(ctx context.Context, in gateway.NewUser, role gateway.Role, first bool, action string) (gateway.User, error) {
	hash, err := s.hash(ctx, in.Password)
	if err != nil {
		return gateway.User{}, err
	}
	u := gateway.User{Email: in.Email, DisplayName: in.DisplayName, Role: role, Active: true, PasswordHash: hash}
	err = s.audit.Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
		var err error
		if first {
			err = s.opt.Users.CreateFirstUser(ctx, &u)
		} else {
			err = s.opt.Users.CreateUser(ctx, &u)
		}
		ev := gateway.AuditEvent{Action: action, Target: userRef(u.ID), Details: map[string]any{"email": u.Email, "role": role.String()}}
		if action != gateway.AuditUserCreated { // setup and registration: the new user acts
			ev.Actor = userRef(u.ID)
		}
		return one(ev, err)
	})
	if err != nil {
		if first && errors.Is(err, gateway.ErrConflict) {
			return u, errAlreadySetUp
		}
		return u, mapStoreErr("create user", err)
	}
	s.hasUsers.Store(true)
	s.remember(u)
	return u, nil
}

// SetupRequired reports whether no user exists yet (fresh from the
// database when the cache says none).
func (s *Service) SetupRequired(ctx context.Context) (bool, error) {
	if err := s.refreshCounts(ctx); err != nil {
		return false, gateway.Internal("setup status", err)
	}
	return !s.hasUsers.Load(), nil
}

// Setup creates the first admin (POST /api/setup). Errors: 409
// already_set_up once a user exists; on a non-loopback address 400
// missing_field / invalid_field (body.setup_token) without the right
// one-time token; 400 for invalid fields, weak_password.
func (s *Service) Setup(ctx context.Context, in gateway.NewUser) (gateway.User, error) {
	need, err := s.SetupRequired(ctx)
	if err != nil {
		return gateway.User{}, err
	}
	if !need {
		return gateway.User{}, errAlreadySetUp
	}
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	if !s.opt.Loopback && s.opt.Mode != ModeOpen {
		if in.SetupToken == "" {
			return gateway.User{}, gateway.Invalid("missing_field", "body.setup_token",
				"setup_token is required: the server printed it at start and wrote it to <data_dir>/setup-token")
		}
		want := s.setupToken.Reveal()
		if want == "" || subtle.ConstantTimeCompare([]byte(in.SetupToken.Reveal()), []byte(want)) != 1 {
			return gateway.User{}, gateway.Invalid("invalid_field", "body.setup_token", "setup_token is not valid")
		}
	}
	if err := checkNewUser(in); err != nil {
		return gateway.User{}, err
	}
	u, err := s.create(ctx, in, gateway.RoleAdmin, true, gateway.AuditSetup)
	if err != nil {
		return u, err
	}
	if s.setupToken != "" {
		s.setupToken = ""
		_ = os.Remove(filepath.Join(s.opt.DataDir, SetupTokenFile))
	}
	s.opt.Log.InfoContext(ctx, "first admin created by setup", "user_id", u.ID)
	return u, nil
}

// Register creates a user with auth.default_role and logs them in (POST
// /api/auth/register). Errors: 403 registration_disabled (also before
// setup), 403 email_domain_not_allowed, 409 email_taken, 400 for fields.
func (s *Service) Register(ctx context.Context, in gateway.NewUser) (*gateway.LoginResult, error) {
	disabled := gateway.E(gateway.KindPermission, "registration_disabled", "Registration is disabled")
	if !s.opt.RegistrationEnabled {
		return nil, disabled
	}
	if need, err := s.SetupRequired(ctx); err != nil {
		return nil, err
	} else if need {
		return nil, disabled
	}
	if err := checkNewUser(in); err != nil {
		return nil, err
	}
	if len(s.opt.AllowedEmailDomains) > 0 {
		domain := in.Email[strings.LastIndexByte(in.Email, '@')+1:]
		if !slices.ContainsFunc(s.opt.AllowedEmailDomains, func(d string) bool { return strings.EqualFold(d, domain) }) {
			return nil, gateway.E(gateway.KindPermission, "email_domain_not_allowed", "Registration is not open to this email domain")
		}
	}
	u, err := s.create(ctx, in, s.opt.DefaultRole, false, gateway.AuditRegister)
	if err != nil {
		return nil, err
	}
	return s.issue(ctx, u)
}

// CreateUser is the admin's user creation (POST /api/admin/users, the
// CLI): 409 email_taken, 400 for fields.
func (s *Service) CreateUser(ctx context.Context, in gateway.NewUser) (gateway.User, error) {
	if err := checkNewUser(in); err != nil {
		return gateway.User{}, err
	}
	if !in.Role.AtLeast(gateway.RoleViewer) {
		return gateway.User{}, gateway.Invalid("missing_field", "body.role", "role is required")
	}
	return s.create(ctx, in, in.Role, false, gateway.AuditUserCreated)
}

// ListUsers lists users in creation order (limit 1–200).
func (s *Service) ListUsers(ctx context.Context, cursor string, limit int) ([]gateway.User, string, error) {
	users, next, err := s.opt.Users.ListUsers(ctx, cursor, limit)
	if err != nil {
		return nil, "", gateway.Internal("list users", err)
	}
	return users, next, nil
}

// UpdateUser applies an admin's patch; it takes effect on the next request
// of every credential of the user. Deactivation also moves the user's
// token watermark, so a later reactivation revives no older JWT. A new
// password is checked like any other (400 weak_password, body.password)
// and hashed. Errors: 404 not_found, 409 last_admin, 503 overloaded.
func (s *Service) UpdateUser(ctx context.Context, id string, p gateway.UserPatch) (gateway.User, error) {
	return s.updateUser(ctx, id, p, "")
}

// updateUser is UpdateUser; a deactivation or new password ends every
// session of the user but keepSession ("" for none).
func (s *Service) updateUser(ctx context.Context, id string, p gateway.UserPatch, keepSession string) (gateway.User, error) {
	endSessions := p.Active != nil && !*p.Active || p.Password != nil
	if p.DisplayName != nil {
		if err := checkDisplayName(*p.DisplayName); err != nil {
			return gateway.User{}, err
		}
	}
	if p.AllowedModels != nil || p.MaxParallel != nil {
		var models gateway.ModelList
		if p.AllowedModels != nil {
			models = *p.AllowedModels
		}
		mp := 0
		if p.MaxParallel != nil {
			mp = *p.MaxParallel
		}
		if err := checkAccess(models, mp); err != nil {
			return gateway.User{}, err
		}
	}
	if p.Active != nil && !*p.Active || p.Password != nil {
		// SPEC 3: deactivating invalidates every JWT issued before, also
		// after a later reactivation; an admin's password reset does the
		// same (the old password may be what leaked). Tokens carry iat in
		// microseconds: everything issued up to this microsecond dies.
		after := s.opt.Now().UTC().Truncate(time.Microsecond).Add(time.Microsecond)
		p.TokensValidAfter = &after
	}
	var hash string
	if p.Password != nil {
		if err := CheckPassword(*p.Password); err != nil {
			return gateway.User{}, err
		}
		var err error
		if hash, err = s.hash(ctx, *p.Password); err != nil {
			return gateway.User{}, err
		}
		p.Password = nil
	}
	var u gateway.User
	err := s.audit.Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
		before, err := s.opt.Users.User(ctx, id)
		if err != nil {
			return nil, mapStoreErr("update user", err)
		}
		if u, err = s.opt.Users.UpdateUser(ctx, id, p); err != nil {
			return nil, mapStoreErr("update user", err)
		}
		if hash != "" {
			if err := s.opt.Users.SetPasswordHash(ctx, id, hash); err != nil {
				return nil, mapStoreErr("set password", err)
			}
			u.PasswordHash = hash
		}
		if endSessions {
			if err := s.endUserSessions(ctx, id, keepSession); err != nil {
				return nil, err
			}
		}
		return userChangeEvents(before, u, p, hash != ""), nil
	})
	if err != nil {
		return u, err
	}
	s.remember(u)
	return u, nil
}

// ChangePassword changes the caller's own password (PUT
// /api/auth/password): like an admin's reset it moves the JWT watermark
// and ends the user's sessions, except the caller's current one. That one
// is renewed (OWASP: a new session id after a credential change): called
// with a session cookie, the session gets a new secret and CSRF token in
// new cookies on w (the old secret dies at once) and rotated is true. If
// the renewal fails after the password has changed, the current session
// is ended and its cookies cleared instead (logged; the change stands).
// Errors: 400 weak_password (body.new_password), 401 invalid_credentials
// for a wrong current password, 403 insufficient_role for a principal
// without a password (open mode's local admin), 503 overloaded.
func (s *Service) ChangePassword(ctx context.Context, w http.ResponseWriter, r *http.Request, p *gateway.Principal, current, next gateway.Secret) (rotated bool, err error) {
	if p == nil || p.Kind != gateway.PrincipalUser || p.UserID == "" {
		return false, gateway.E(gateway.KindPermission, "insufficient_role", "Only a user signed in with their own login has a password to change")
	}
	if err := CheckPassword(next); err != nil {
		if ge, ok := gateway.AsError(err); ok {
			e := *ge
			e.Param = "body.new_password"
			return false, &e
		}
		return false, err
	}
	u, err := s.opt.Users.User(ctx, p.UserID)
	if err != nil {
		return false, mapStoreErr("change password", err)
	}
	if _, err := s.checkPassword(ctx, u.Email, current, false); err != nil {
		return false, err
	}
	if _, err = s.updateUser(ctx, u.ID, gateway.UserPatch{Password: &next}, p.SessionID); err != nil {
		return false, err
	}
	if p.SessionID == "" {
		return false, nil
	}
	if _, _, err := s.RefreshSession(ctx, w, r, p); err != nil {
		if !errors.Is(err, errSessionExpired) { // RefreshSession cleared the cookies on that one
			s.ClearSessionCookies(w)
		}
		if s.opt.Sessions != nil {
			if derr := s.opt.Sessions.DeleteSession(ctx, p.SessionID, p.UserID); derr != nil && !errors.Is(derr, gateway.ErrNotFound) {
				s.opt.Log.ErrorContext(ctx, "end session after password change", "user_id", p.UserID, "err", derr)
			}
		}
		s.opt.Log.WarnContext(ctx, "renew session after password change: ended it instead", "user_id", p.UserID, "err", err)
		return false, nil
	}
	return true, nil
}

// UserByEmail finds a user for the CLI: 404 not_found.
func (s *Service) UserByEmail(ctx context.Context, email string) (gateway.User, error) {
	u, err := s.opt.Users.UserByEmail(ctx, email)
	return u, mapStoreErr("user by email", err)
}

// Login checks an email and password and issues an access token. Unknown
// email, inactive user and wrong password all give the same 401
// invalid_credentials after one argon2id verification each; 503 overloaded
// when no hash slot frees up within auth.password_hash_wait.
func (s *Service) Login(ctx context.Context, email string, password gateway.Secret) (*gateway.LoginResult, error) {
	u, err := s.checkPassword(ctx, email, password, true)
	if err != nil {
		return nil, err
	}
	return s.issue(ctx, u)
}

// checkPassword is the password check of every login (token or session):
// 401 invalid_credentials for an unknown email, an inactive user or a
// wrong password, after one argon2id verification each; 503 overloaded.
// On success it records the login and rehashes outdated hashes.
func (s *Service) checkPassword(ctx context.Context, email string, password gateway.Secret, login bool) (gateway.User, error) {
	u, err := s.opt.Users.UserByEmail(ctx, email)
	if err != nil && !errors.Is(err, gateway.ErrNotFound) {
		return gateway.User{}, gateway.Internal("login", err)
	}
	pw := password
	if len(pw.Reveal()) > MaxPasswordBytes {
		pw = "" // never matches; still costs one verification
	}
	hash := u.PasswordHash
	if err != nil || hash == "" {
		hash = s.dummy()
	}
	// One slot covers the verification (the same for known and unknown
	// emails) and a rehash, so neither waits twice.
	release, lerr := s.opt.Hashes.Acquire(ctx)
	if lerr != nil {
		return gateway.User{}, lerr
	}
	ok, rehash, verr := VerifyPassword(pw, hash, s.opt.Password)
	if verr != nil {
		s.opt.Log.ErrorContext(ctx, "stored password hash is malformed", "user_id", u.ID)
		_, _, _ = VerifyPassword(pw, s.dummy(), s.opt.Password)
	}
	if err != nil || verr != nil || !ok || !u.Active || pw == "" {
		release()
		if login {
			s.audit.FailedLogin(ctx, email, map[string]any{"method": "password"})
		}
		return gateway.User{}, errInvalidCredentials
	}
	var newHash string
	if rehash {
		newHash, _ = HashPassword(pw, s.opt.Password)
	}
	release()
	if newHash != "" {
		if err := s.opt.Users.SetPasswordHash(ctx, u.ID, newHash); err != nil {
			s.opt.Log.WarnContext(ctx, "rehash password", "user_id", u.ID, "err", err)
		}
	}
	if !login {
		return u, nil
	}
	if err := s.recordLogin(ctx, u, "password"); err != nil {
		s.opt.Log.WarnContext(ctx, "record login", "user_id", u.ID, "err", err)
	}
	return u, nil
}

// hash computes pw's PHC string in a hash slot: 503 overloaded when none
// frees up in time, 500 when hashing fails.
func (s *Service) hash(ctx context.Context, pw gateway.Secret) (string, error) {
	release, err := s.opt.Hashes.Acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	h, err := HashPassword(pw, s.opt.Password)
	if err != nil {
		return "", gateway.Internal("hash password", err)
	}
	return h, nil
}

func (s *Service) dummy() string {
	s.dummyOnce.Do(func() {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		s.dummyHash, _ = HashPassword(gateway.Secret(b), s.opt.Password)
	})
	return s.dummyHash
}

func (s *Service) issue(_ context.Context, u gateway.User) (*gateway.LoginResult, error) {
	tok, _, err := s.opt.Tokens.Issue(u.ID, TokenTypeAccess, s.opt.TokenTTL)
	if err != nil {
		return nil, gateway.Internal("issue token", err)
	}
	return &gateway.LoginResult{AccessToken: tok, ExpiresIn: int(s.opt.TokenTTL / 1e9), User: u}, nil
}

// Logout revokes every JWT of p's user issued up to now; a token issued
// afterwards works. Principals that are not users have nothing to revoke.
func (s *Service) Logout(ctx context.Context, p *gateway.Principal) error {
	if p == nil || p.Kind != gateway.PrincipalUser {
		return nil
	}
	// Tokens carry iat in microseconds: everything issued up to and
	// including this microsecond is revoked.
	after := s.opt.Now().UTC().Truncate(1000).Add(1000)
	if err := s.audit.Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
		return one(gateway.AuditEvent{Action: gateway.AuditLogout, Target: userRef(p.UserID), Details: map[string]any{"credential": "jwt"}},
			s.opt.Users.RevokeTokens(ctx, p.UserID, after))
	}); err != nil {
		return mapStoreErr("logout", err)
	}
	u, err := s.opt.Users.User(ctx, p.UserID)
	if err != nil {
		return mapStoreErr("logout", err)
	}
	s.remember(u)
	return nil
}

// UserKeys is what deleting a user needs of the API keys (*Keys is one).
type UserKeys interface {
	ListKeys(ctx context.Context, ownerID, cursor string, limit int) ([]gateway.APIKey, string, error)
	RevokeKey(ctx context.Context, id, ownerID string) error
}

// SoftDelete deletes user id as SPEC 3 says, keeping their data: the user
// is deactivated first (which ends their sessions and every JWT at once,
// and makes their keys fail), then every key of theirs is revoked. It
// returns the user and how many keys it revoked. Errors: 404 not_found,
// 409 last_admin.
func (s *Service) SoftDelete(ctx context.Context, id string, keys UserKeys) (u gateway.User, revoked int, err error) {
	// One transaction: the deactivation, every key's revocation and their
	// records (user.deactivated, key.revoked, user.deleted).
	err = s.audit.Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
		var err error
		u, revoked, err = s.softDelete(ctx, id, keys)
		return one(gateway.AuditEvent{Action: gateway.AuditUserDeleted, Target: userRef(id), Details: map[string]any{"keys_revoked": revoked}}, err)
	})
	if err == nil {
		s.remember(u)
	}
	return u, revoked, err
}

func (s *Service) softDelete(ctx context.Context, id string, keys UserKeys) (gateway.User, int, error) {
	no := false
	u, err := s.UpdateUser(ctx, id, gateway.UserPatch{Active: &no})
	if err != nil {
		return u, 0, err
	}
	revoked := 0
	for cursor := ""; ; {
		page, next, err := keys.ListKeys(ctx, u.ID, cursor, 200)
		if err != nil {
			return u, revoked, err
		}
		for _, k := range page {
			if k.RevokedAt != nil {
				continue
			}
			if err := keys.RevokeKey(ctx, k.ID, u.ID); err != nil {
				return u, revoked, err
			}
			revoked++
		}
		if next == "" {
			return u, revoked, nil
		}
		cursor = next
	}
}
