package gateway

// NewUser is the input of setup, registration and admin user creation.
// Role is ignored by setup (admin) and registration (auth.default_role).
type NewUser struct {
	Email       string
	Password    Secret
	DisplayName string
	Role        Role
	// SetupToken is the one-time setup token (setup on a public address).
	SetupToken Secret
}

// AuthStatus is the public answer of GET /api/auth/status.
type AuthStatus struct {
	Mode                string // "open" or "required"
	SetupRequired       bool
	RegistrationEnabled bool
}

// LoginResult is an issued access token and the user it is for.
type LoginResult struct {
	AccessToken Secret
	ExpiresIn   int // seconds
	User        User
}
