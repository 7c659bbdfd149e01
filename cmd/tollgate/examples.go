package main

// commandExamples are the examples of every command's help, by command
// path (TestEveryCommandHasExamples fails on a command without one).
var commandExamples = map[string]string{
	"tollgate": `  tollgate serve                       # run the gateway on 127.0.0.1:8080
  tollgate user create --email a@example.com --role admin
  tollgate --version`,
	"tollgate serve": `  tollgate serve
  tollgate serve --addr 0.0.0.0:9000 --config /etc/tollgate/tollgate.toml
  TOLLGATE_LOG_FORMAT=json tollgate serve --database-url postgres://tollgate@db/tollgate`,
	"tollgate migrate": `  tollgate migrate
  tollgate migrate --database-url sqlite:///var/lib/tollgate/tollgate.db`,
	"tollgate backup": `  tollgate backup /var/backups/tollgate-$(date +%F).db
  tollgate backup --config /etc/tollgate/tollgate.toml backup.db`,
	"tollgate config":       `  tollgate config print`,
	"tollgate config print": `  tollgate config print --config /etc/tollgate/tollgate.toml`,
	"tollgate openapi":      `  tollgate openapi > openapi.json`,
	"tollgate follow": `  tollgate follow conv_abc123                       # print a conversation's events live
  TOLLGATE_SERVER=https://gw.example.com TOLLGATE_API_KEY=tg_... tollgate follow conv_abc123`,
	"tollgate user": `  tollgate user create --email a@example.com --role admin
  tollgate user list -o json`,
	"tollgate user create": `  tollgate user create --email a@example.com --role admin --name "Ada"
  printf '%s\n' "$PASSWORD" | tollgate user create --email b@example.com --role viewer --password-stdin
  tollgate user create --email a@example.com --role admin --init   # also create a new database`,
	"tollgate user list": `  tollgate user list
  tollgate user list -o json`,
	"tollgate user set-role":   `  tollgate user set-role b@example.com contributor`,
	"tollgate user deactivate": `  tollgate user deactivate b@example.com`,
	"tollgate user activate":   `  tollgate user activate b@example.com`,
	"tollgate user delete":     `  tollgate user delete b@example.com`,
	"tollgate user reset-password": `  tollgate user reset-password b@example.com
  printf '%s\n' "$NEW_PASSWORD" | tollgate user reset-password b@example.com --password-stdin`,
	"tollgate audit": `  tollgate audit list --since 24h
  tollgate audit verify`,
	"tollgate audit list": `  tollgate audit list --action key.created --since 7d
  tollgate audit list --json --limit 100`,
	"tollgate audit export": `  tollgate audit export --since 10m >> /var/log/tollgate/audit.ndjson
  tollgate audit export --config /etc/tollgate/tollgate.toml > audit.ndjson`,
	"tollgate audit verify": `  tollgate audit verify || echo "audit log tampered with"`,
	"tollgate key": `  tollgate key create --user a@example.com --name ci
  tollgate key list -o json`,
	"tollgate key create": `  tollgate key create --user a@example.com --name ci
  tollgate key create --user a@example.com --name app --role viewer --expires 30d --end-user-mode`,
	"tollgate key list": `  tollgate key list
  tollgate key list --user a@example.com -o json`,
	"tollgate key revoke": `  tollgate key revoke 0190a1b2-...`,
	"tollgate key rotate": `  tollgate key rotate 0190a1b2-...
  tollgate key rotate 0190a1b2-... --grace 10m`,
	"tollgate chat": `  tollgate chat "Explain SSE in one sentence"
  tollgate chat --model llama3 --conversation conv_...
  tollgate chat                                  # interactive: you> ... assistant> ...; Ctrl-C cancels a reply
  tollgate chat --no-store "Summarise: ..."      # plain /v1 call, nothing stored`,
	"tollgate usage": `  tollgate usage
  tollgate usage --group-by day --since 7d
  tollgate usage --group-by key -o json`,
	"tollgate login": `  tollgate login --server https://tollgate.example.com
  printf '%s\n%s\n' a@example.com "$PASSWORD" | tollgate login`,
	"tollgate logout": `  tollgate logout`,
	"tollgate whoami": `  tollgate whoami
  TOLLGATE_API_KEY=tg_... tollgate whoami`,
	"tollgate version": `  tollgate version
  tollgate --version`,
}
