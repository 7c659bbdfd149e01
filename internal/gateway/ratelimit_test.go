package gateway

import "testing"

func TestRateLimitPolicyValidate(t *testing.T) {
	ok := RateLimitPolicy{Name: "chat", RequestsPerMinute: 10, Burst: 1}
	tests := []struct {
		name  string
		edit  func(*RateLimitPolicy)
		param string
	}{
		{"Valid", func(*RateLimitPolicy) {}, ""},
		{"MissingName", func(p *RateLimitPolicy) { p.Name = " " }, "body.name"},
		{"QuoteInName", func(p *RateLimitPolicy) { p.Name = `a"b` }, "body.name"},
		{"NonASCIIName", func(p *RateLimitPolicy) { p.Name = "café" }, "body.name"},
		{"ZeroRate", func(p *RateLimitPolicy) { p.RequestsPerMinute = 0 }, "body.requests_per_minute"},
		{"ZeroBurst", func(p *RateLimitPolicy) { p.Burst = 0 }, "body.burst"},
		{"NegativeTokens", func(p *RateLimitPolicy) { p.TokensPerMinute = -1 }, "body.tokens_per_minute"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := ok
			tc.edit(&p)
			checkParam(t, p.Validate(), tc.param)
		})
	}
}

func TestRateLimitAssignmentValidate(t *testing.T) {
	ok := RateLimitAssignment{PolicyID: "p", SubjectType: SubjectRoute, Subject: "POST /v1/chat/completions"}
	tests := []struct {
		name  string
		edit  func(*RateLimitAssignment)
		param string
	}{
		{"Valid", func(*RateLimitAssignment) {}, ""},
		{"MissingPolicy", func(a *RateLimitAssignment) { a.PolicyID = "" }, "body.policy_id"},
		{"BadType", func(a *RateLimitAssignment) { a.SubjectType = "team" }, "body.subject_type"},
		{"MissingSubject", func(a *RateLimitAssignment) { a.Subject = "" }, "body.subject"},
		{"BadRole", func(a *RateLimitAssignment) { a.SubjectType, a.Subject = SubjectRole, "root" }, "body.subject"},
		{"GoodRole", func(a *RateLimitAssignment) { a.SubjectType, a.Subject = SubjectRole, "viewer" }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := ok
			tc.edit(&a)
			checkParam(t, a.Validate(), tc.param)
		})
	}
}

func checkParam(t *testing.T, err error, param string) {
	t.Helper()
	if param == "" {
		if err != nil {
			t.Fatalf("Validate = %v, want nil", err)
		}
		return
	}
	ge, ok := AsError(err)
	if !ok || ge.Kind != KindInvalid || ge.Param != param {
		t.Fatalf("Validate = %v, want KindInvalid on %s", err, param)
	}
}
