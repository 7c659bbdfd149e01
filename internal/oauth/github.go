package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"golang.org/x/oauth2"
)

// githubAccount reads the GitHub user (its numeric id is the subject) and
// its emails; only a verified email counts, the primary one first.
func (s *Service) githubAccount(ctx context.Context, p *provider, tok *oauth2.Token) (account, *failure) {
	var u struct {
		ID    int64  `json:"id"`
		Login string `json:"login"`
		Name  string `json:"name"`
	}
	if err := s.githubGet(ctx, p, tok, "/user", &u); err != nil {
		return account{}, fail(ErrProviderUnavailable, err)
	}
	if u.ID <= 0 {
		return account{}, fail(ErrProviderUnavailable, errors.New("github user without an id"))
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := s.githubGet(ctx, p, tok, "/user/emails", &emails); err != nil {
		return account{}, fail(ErrProviderUnavailable, err)
	}
	a := account{Subject: strconv.FormatInt(u.ID, 10), Name: u.Name}
	if a.Name == "" {
		a.Name = u.Login
	}
	for _, e := range emails {
		if e.Verified && e.Email != "" && (e.Primary || !a.EmailVerified) {
			a.Email, a.EmailVerified = e.Email, true
		}
	}
	return a, nil
}

func (s *Service) githubGet(ctx context.Context, p *provider, tok *oauth2.Token, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.APIURL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	tok.SetAuthHeader(req)
	resp, err := s.opt.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("github %s: request failed", path)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("github %s: status %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
		return fmt.Errorf("github %s: %w", path, err)
	}
	return nil
}
