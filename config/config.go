// Package config loads G-Share's server configuration.
//
// Values come, each overriding the one before, from built-in defaults, a
// file (TOML, or YAML when the name ends in .yaml or .yml), GSHARE_*
// environment variables and command-line flags. Every setting has one row in
// a table (see [Settings]) that names its file key, variable and flag, so
// --help, the README and the loader cannot disagree. Decoding is strict: an
// unknown key in the file is an error, and Load reports every problem at
// once, each with the key it concerns.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"

	"gshare/acl/rolemap"
	"gshare/api/cors"
)

// Config is the whole server configuration.
type Config struct {
	Addr string // listen address
	Data string // data directory: meta.db, master.key, objects/
	// MetaURL is the PostgreSQL database holding the metadata
	// (postgres://...); empty keeps it in DATA/meta.db (bbolt).
	MetaURL string

	AdminPassword    string // initial admin password; random when empty
	MasterKeyFile    string
	MasterKeyCommand string

	S3 S3

	MaxUploadSize Size // largest document, in bytes
	// MaxUploadsPerUser bounds concurrent tus uploads per user.
	MaxUploadsPerUser int
	// UploadExpiry is how long an unfinished tus upload is kept.
	UploadExpiry time.Duration

	SessionIdle time.Duration // a browser session ends after this long unused
	SessionMax  time.Duration // and after this long in any case

	// LoginFailuresPerAccount and LoginFailuresPerAddress are how many
	// failed sign-ins in a row an account, and a client address, may make
	// before a lockout (docs/security.md).
	LoginFailuresPerAccount int
	LoginFailuresPerAddress int

	ShutdownTimeout time.Duration
	// ShutdownDrain is how long a stopping node keeps serving while its
	// /readyz answers 503, so a load balancer moves new requests away.
	ShutdownDrain time.Duration

	TLSCert string
	TLSKey  string
	// TrustedProxies are addresses or CIDR blocks whose X-Forwarded-For is
	// believed.
	TrustedProxies []string

	// DebugAddr, when set, serves net/http/pprof there (keep it on
	// loopback: profiles show memory, not documents, but are not audited).
	DebugAddr string

	LogFormat string // text or json
	LogLevel  string // debug, info, warn, error

	// PublicURL is the base of share links; empty means the address a
	// request came to.
	PublicURL string
	// CORSOrigins are the origins of web pages allowed to call the API
	// and the tus endpoint (api/cors), in the form browsers send them.
	CORSOrigins []string

	// MFARequiredRoles are the roles (acl roles: admin, manager, auditor,
	// editor, viewer) whose holders must sign in with a second factor;
	// empty by default (docs/identity.md, "Two-factor").
	MFARequiredRoles []string

	// ChangeRetention is how long the change feed keeps entries.
	ChangeRetention time.Duration
	// TrashRetention is how long deleted files stay in the trash before
	// they are purged for good.
	TrashRetention time.Duration
	// AuditRetention is how long audit entries are kept; 0 keeps them
	// forever.
	AuditRetention time.Duration
	// BackupInterval is how often a backup is written to BackupDir; 0
	// disables scheduled backups.
	BackupInterval time.Duration
	BackupDir      string
	BackupKeep     int
	// MetaShipInterval is how often meta.db's committed changes are
	// shipped to the S3 bucket (storage/metaship); 0 turns shipping off.
	// Only with S3 and a bbolt meta.db.
	MetaShipInterval time.Duration
	// MetaShipKeep is how long shipped snapshots and changes are kept
	// (how far back `gshare restore --from-bucket --at` can go).
	MetaShipKeep time.Duration
	// LDAP is the directory (LDAP, Active Directory) accounts may sign in
	// at; off when its URL is empty.
	LDAP LDAP

	// AllowAuditRollback starts even when meta.db's audit log is behind
	// the checkpoint anchored in the object store (after a deliberate
	// restore); the override is itself audited.
	AllowAuditRollback bool

	OIDC OIDC
}

// OIDC configures sign-in through an OpenID Connect provider
// (docs/identity.md); an empty Issuer turns it off.
type OIDC struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// Scopes are asked for besides openid.
	Scopes []string
	// RoleClaim names the claim whose values RoleMap maps to roles.
	RoleClaim string
	// RoleMap is the JSON of acl/rolemap, checked by Load.
	RoleMap string
	// Name is the provider's name on the sign-in button.
	Name string
}

// S3 configures the S3 object store; an empty Endpoint selects the local
// directory DATA/objects.
type S3 struct {
	Endpoint  string
	AccessKey string
	SecretKey string
	Bucket    string
	Region    string
	TLS       bool
	// SignedPayloads signs payloads with SHA-256 instead of sending
	// them with a CRC32C trailer (for S3 services without trailers).
	SignedPayloads bool
	// Timeout bounds connecting to S3 and waiting for its answer to
	// start; a request that takes longer fails with 503.
	Timeout time.Duration
}

// LDAP configures sign-in at an LDAP directory (docs/identity.md).
type LDAP struct {
	URL          string // ldaps://host[:port] or ldap://host[:port]; empty: off
	StartTLS     bool   // with ldap://, upgrade with StartTLS first
	CAFile       string // PEM CA certificates for the directory's certificate
	BindDN       string
	BindPassword string
	UserBase     string
	UserFilter   string // %s is the escaped user name
	GroupBase    string
	RoleMap      string // JSON, acl/rolemap
	NameAttr     string
	MailAttr     string
	SyncInterval time.Duration
}

// Size is a byte count that parses "1048576", "512MiB", "5GiB", "2TB".
type Size int64

// UnmarshalText parses a size.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	*s = Size(v)
	return err
}

// ParseSize parses a byte count with an optional unit (B, KiB, MiB, GiB,
// TiB, KB, MB, GB, TB).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q (want a number of bytes, optionally with KiB, MiB, GiB or TiB)", s)
	}
	return n * mult, nil
}

// Setting describes one configuration value.
type Setting struct {
	Key     string // file key; dotted for tables: "s3.endpoint"
	Env     string // environment variable
	Flag    string // command-line flag of gshare serve, or "" for none
	Default string
	Help    string
	Secret  bool // never echoed
	set     func(c *Config, v string) error
	// onOff is the field of an on/off setting. Its flag may be given bare
	// (--allow-audit-rollback) or with a value after "=" (--flag=false),
	// as Go's boolean flags are; its file and environment values are
	// true or false.
	onOff func(c *Config) *bool
}

// OnOff reports whether the setting is on or off (true or false).
func (s Setting) OnOff() bool { return s.onOff != nil }

// Settings lists every setting in documentation order.
func Settings() []Setting {
	str := func(f func(*Config) *string) func(*Config, string) error {
		return func(c *Config, v string) error { *f(c) = v; return nil }
	}
	dur := func(f func(*Config) *time.Duration) func(*Config, string) error {
		return func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("bad duration %q (examples: 90s, 30m, 24h)", v)
			}
			*f(c) = d
			return nil
		}
	}
	count := func(f func(*Config) *int) func(*Config, string) error {
		return func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return fmt.Errorf("bad count %q (want a whole number, 1 or more)", v)
			}
			*f(c) = n
			return nil
		}
	}
	boolean := func(f func(*Config) *bool) func(*Config, string) error {
		return func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("bad boolean %q (want true or false)", v)
			}
			*f(c) = b
			return nil
		}
	}
	settings := []Setting{
		{Key: "addr", Env: "GSHARE_ADDR", Flag: "addr", Default: "127.0.0.1:8080", Help: "address to listen on",
			set: str(func(c *Config) *string { return &c.Addr })},
		{Key: "data", Env: "GSHARE_DATA", Flag: "data", Default: "./gshare-data", Help: "data directory (meta.db, master.key, objects/)",
			set: str(func(c *Config) *string { return &c.Data })},
		{Key: "meta_url", Env: "GSHARE_META_URL", Flag: "meta-url", Help: "PostgreSQL URL of the metadata store (postgres://gshare@db1,db2/gshare?target_session_attrs=read-write); empty keeps it in DATA/meta.db",
			set: str(func(c *Config) *string { return &c.MetaURL })},
		{Key: "admin_password", Env: "GSHARE_ADMIN_PASSWORD", Help: "password of the admin user created on first start (random and printed when empty)", Secret: true,
			set: str(func(c *Config) *string { return &c.AdminPassword })},
		{Key: "master_key_file", Env: "GSHARE_MASTER_KEY_FILE", Help: "master key file, ideally on another mount (default DATA/master.key, created on first start)",
			set: str(func(c *Config) *string { return &c.MasterKeyFile })},
		{Key: "master_key_command", Env: "GSHARE_MASTER_KEY_COMMAND", Help: "command whose output is the master key (a KMS or HSM client); wins over the file",
			set: str(func(c *Config) *string { return &c.MasterKeyCommand })},
		{Key: "s3.endpoint", Env: "GSHARE_S3_ENDPOINT", Flag: "s3-endpoint", Help: "S3 host:port; empty uses the local directory DATA/objects",
			set: str(func(c *Config) *string { return &c.S3.Endpoint })},
		{Key: "s3.access_key", Env: "GSHARE_S3_ACCESS_KEY", Help: "S3 access key",
			set: str(func(c *Config) *string { return &c.S3.AccessKey })},
		{Key: "s3.secret_key", Env: "GSHARE_S3_SECRET_KEY", Help: "S3 secret key", Secret: true,
			set: str(func(c *Config) *string { return &c.S3.SecretKey })},
		{Key: "s3.bucket", Env: "GSHARE_S3_BUCKET", Flag: "s3-bucket", Default: "gshare", Help: "S3 bucket, created if missing",
			set: str(func(c *Config) *string { return &c.S3.Bucket })},
		{Key: "s3.region", Env: "GSHARE_S3_REGION", Help: "S3 region",
			set: str(func(c *Config) *string { return &c.S3.Region })},
		{Key: "s3.tls", Env: "GSHARE_S3_TLS", Default: "false", Help: "use HTTPS to reach S3 (true/false)",
			onOff: func(c *Config) *bool { return &c.S3.TLS }},
		{Key: "s3.signed_payloads", Env: "GSHARE_S3_SIGNED_PAYLOADS", Default: "false", Help: "sign payloads with SHA-256 instead of a CRC32C trailer (slower; for S3 services without trailing checksums)",
			onOff: func(c *Config) *bool { return &c.S3.SignedPayloads }},
		{Key: "s3.timeout", Env: "GSHARE_S3_TIMEOUT", Default: "30s", Help: "how long to wait for S3 to answer a request before it fails (503); data transfer itself is not limited",
			set: dur(func(c *Config) *time.Duration { return &c.S3.Timeout })},
		{Key: "max_upload_size", Env: "GSHARE_MAX_UPLOAD_SIZE", Flag: "max-upload-size", Default: "50GiB", Help: "largest document accepted",
			set: func(c *Config, v string) error {
				n, err := ParseSize(v)
				c.MaxUploadSize = Size(n)
				return err
			}},
		{Key: "max_uploads_per_user", Env: "GSHARE_MAX_UPLOADS_PER_USER", Default: "20", Help: "unfinished resumable uploads one user may hold",
			set: func(c *Config, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 {
					return fmt.Errorf("bad count %q", v)
				}
				c.MaxUploadsPerUser = n
				return nil
			}},
		{Key: "upload_expiry", Env: "GSHARE_UPLOAD_EXPIRY", Default: "168h", Help: "how long an unfinished resumable upload is kept",
			set: dur(func(c *Config) *time.Duration { return &c.UploadExpiry })},
		{Key: "session_idle", Env: "GSHARE_SESSION_IDLE", Default: "2h", Help: "a browser session ends after this long unused",
			set: dur(func(c *Config) *time.Duration { return &c.SessionIdle })},
		{Key: "session_max", Env: "GSHARE_SESSION_MAX", Default: "12h", Help: "a browser session ends after this long in any case",
			set: dur(func(c *Config) *time.Duration { return &c.SessionMax })},
		{Key: "login_failures_per_account", Env: "GSHARE_LOGIN_FAILURES_PER_ACCOUNT", Default: "5", Help: "failed sign-ins in a row an account may make before it is locked (30 s, doubling up to 15 min; one failure forgotten every 15 min)",
			set: count(func(c *Config) *int { return &c.LoginFailuresPerAccount })},
		{Key: "login_failures_per_address", Env: "GSHARE_LOGIN_FAILURES_PER_ADDRESS", Default: "100", Help: "failed sign-ins in a row one client address (an IPv6 /64) may make, for all accounts together, before it is locked; high, as an office shares one NAT address (one failure forgotten every minute)",
			set: count(func(c *Config) *int { return &c.LoginFailuresPerAddress })},
		{Key: "shutdown_timeout", Env: "GSHARE_SHUTDOWN_TIMEOUT", Default: "30s", Help: "how long shutdown waits for requests in flight",
			set: dur(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
		{Key: "shutdown_drain", Env: "GSHARE_SHUTDOWN_DRAIN", Default: "0s", Help: "behind a load balancer: how long a stopping node keeps serving while /readyz answers 503 draining, before it interrupts uploads and stops (longer than the balancer's health checks take to mark a node down; 0s: no drain, for one node)",
			set: dur(func(c *Config) *time.Duration { return &c.ShutdownDrain })},
		{Key: "change_retention", Env: "GSHARE_CHANGE_RETENTION", Default: "2160h", Help: "how long the change feed keeps entries (sync clients older than this resync)",
			set: dur(func(c *Config) *time.Duration { return &c.ChangeRetention })},
		{Key: "trash_retention", Env: "GSHARE_TRASH_RETENTION", Default: "720h", Help: "how long deleted files and folders stay in their department's trash before they are purged for good",
			set: dur(func(c *Config) *time.Duration { return &c.TrashRetention })},
		{Key: "audit_retention", Env: "GSHARE_AUDIT_RETENTION", Default: "0s", Help: "how long audit entries are kept (0s: forever); pruning keeps the log verifiable",
			set: dur(func(c *Config) *time.Duration { return &c.AuditRetention })},
		{Key: "audit_allow_rollback", Env: "GSHARE_AUDIT_ALLOW_ROLLBACK", Flag: "allow-audit-rollback", Default: "false", Help: "start even if meta.db's audit log is behind or inconsistent with its anchored checkpoints (after a deliberate restore); audited, and starts a new audit epoch so later restarts need no override",
			onOff: func(c *Config) *bool { return &c.AllowAuditRollback }},
		{Key: "backup_interval", Env: "GSHARE_BACKUP_INTERVAL", Default: "0s", Help: "write a sealed backup of meta.db this often (0s: never; e.g. 24h)",
			set: func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < 0 {
					return fmt.Errorf("bad duration %q", v)
				}
				c.BackupInterval = d
				return nil
			}},
		{Key: "backup_dir", Env: "GSHARE_BACKUP_DIR", Help: "where scheduled backups go (default DATA/backups; put it on another disk)",
			set: str(func(c *Config) *string { return &c.BackupDir })},
		{Key: "backup_keep", Env: "GSHARE_BACKUP_KEEP", Default: "14", Help: "how many scheduled backups to keep",
			set: func(c *Config, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 {
					return fmt.Errorf("bad count %q", v)
				}
				c.BackupKeep = n
				return nil
			}},
		{Key: "meta_ship_interval", Env: "GSHARE_META_SHIP_INTERVAL", Default: "10s", Help: "with S3 and meta.db, ship meta.db's committed changes to the bucket this often, sealed (0s: off); the recovery point of a lost disk (gshare restore --from-bucket)",
			set: func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < 0 {
					return fmt.Errorf("bad duration %q (examples: 10s, 1m; 0s turns shipping off)", v)
				}
				c.MetaShipInterval = d
				return nil
			}},
		{Key: "meta_ship_keep", Env: "GSHARE_META_SHIP_KEEP", Default: "720h", Help: "how long metadata shipped to the bucket is kept: how far back gshare restore --from-bucket --at can go",
			set: func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d <= 0 {
					return fmt.Errorf("bad duration %q (examples: 168h, 720h)", v)
				}
				c.MetaShipKeep = d
				return nil
			}},
		{Key: "ldap.url", Env: "GSHARE_LDAP_URL", Help: "LDAP or Active Directory server for sign-in: ldaps://host[:636], or ldap://host[:389] with ldap.start_tls; off when empty (docs/identity.md)",
			set: str(func(c *Config) *string { return &c.LDAP.URL })},
		{Key: "ldap.start_tls", Env: "GSHARE_LDAP_START_TLS", Default: "true", Help: "with an ldap:// URL, upgrade the connection with StartTLS before anything is sent (false only for a directory on loopback)",
			onOff: func(c *Config) *bool { return &c.LDAP.StartTLS }},
		{Key: "ldap.ca_file", Env: "GSHARE_LDAP_CA_FILE", Help: "PEM file of the CA certificates the directory's TLS certificate must chain to (default: the system's)",
			set: str(func(c *Config) *string { return &c.LDAP.CAFile })},
		{Key: "ldap.bind_dn", Env: "GSHARE_LDAP_BIND_DN", Help: "DN of the service account that searches the directory (read-only is enough)",
			set: str(func(c *Config) *string { return &c.LDAP.BindDN })},
		{Key: "ldap.bind_password", Env: "GSHARE_LDAP_BIND_PASSWORD", Help: "password of the service account", Secret: true,
			set: str(func(c *Config) *string { return &c.LDAP.BindPassword })},
		{Key: "ldap.user_base", Env: "GSHARE_LDAP_USER_BASE", Help: "DN under which users are searched, e.g. ou=people,dc=mof,dc=gov,dc=la",
			set: str(func(c *Config) *string { return &c.LDAP.UserBase })},
		{Key: "ldap.user_filter", Env: "GSHARE_LDAP_USER_FILTER", Default: "(&(objectClass=person)(uid=%s))", Help: "filter that finds one user, %s being the escaped user name; Active Directory: (&(objectClass=user)(sAMAccountName=%s))",
			set: str(func(c *Config) *string { return &c.LDAP.UserFilter })},
		{Key: "ldap.group_base", Env: "GSHARE_LDAP_GROUP_BASE", Help: "DN under which groups (member, uniqueMember, memberUid) are searched; empty: only the user's memberOf",
			set: str(func(c *Config) *string { return &c.LDAP.GroupBase })},
		{Key: "ldap.role_map", Env: "GSHARE_LDAP_ROLE_MAP", Help: "JSON object from group DN or name to department roles, e.g. {\"cn=finance,ou=groups,dc=mof,dc=gov,dc=la\":[\"finance:editor\"]}",
			set: str(func(c *Config) *string { return &c.LDAP.RoleMap })},
		{Key: "ldap.name_attr", Env: "GSHARE_LDAP_NAME_ATTR", Default: "displayName", Help: "attribute of the display name (kept as stored, Lao included)",
			set: str(func(c *Config) *string { return &c.LDAP.NameAttr })},
		{Key: "ldap.mail_attr", Env: "GSHARE_LDAP_MAIL_ATTR", Default: "mail", Help: "attribute of the e-mail address (Active Directory: mail or userPrincipalName)",
			set: str(func(c *Config) *string { return &c.LDAP.MailAttr })},
		{Key: "ldap.sync_interval", Env: "GSHARE_LDAP_SYNC_INTERVAL", Default: "15m", Help: "how often directory accounts are checked: removed or disabled ones are disabled here, roles follow groups",
			set: dur(func(c *Config) *time.Duration { return &c.LDAP.SyncInterval })},
		{Key: "tls_cert", Env: "GSHARE_TLS_CERT", Flag: "tls-cert", Help: "TLS certificate file (PEM); with tls_key, serve HTTPS",
			set: str(func(c *Config) *string { return &c.TLSCert })},
		{Key: "tls_key", Env: "GSHARE_TLS_KEY", Flag: "tls-key", Help: "TLS private key file (PEM)",
			set: str(func(c *Config) *string { return &c.TLSKey })},
		{Key: "trusted_proxies", Env: "GSHARE_TRUSTED_PROXIES", Help: "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For is believed",
			set: func(c *Config, v string) error {
				c.TrustedProxies = nil
				for _, p := range strings.Split(v, ",") {
					if p = strings.TrimSpace(p); p != "" {
						c.TrustedProxies = append(c.TrustedProxies, p)
					}
				}
				return nil
			}},
		{Key: "public_url", Env: "GSHARE_PUBLIC_URL", Help: "public base URL for share links, e.g. https://share.example.gov.la (default: the address a request came to)",
			set: str(func(c *Config) *string { return &c.PublicURL })},
		{Key: "cors_origins", Env: "GSHARE_CORS_ORIGINS", Flag: "cors-origins", Help: "comma-separated origins (scheme://host[:port]) of web pages allowed to call the API and tus uploads with a token (CORS); none when empty",
			set: func(c *Config, v string) error {
				c.CORSOrigins = nil
				var errs []error
				for _, o := range strings.Split(v, ",") {
					if o = strings.TrimSpace(o); o == "" {
						continue
					}
					canon, err := cors.ParseOrigin(o)
					if err != nil {
						errs = append(errs, err)
						continue
					}
					c.CORSOrigins = append(c.CORSOrigins, canon)
				}
				return errors.Join(errs...)
			}},
		{Key: "oidc.issuer", Env: "GSHARE_OIDC_ISSUER", Help: "issuer URL of an OpenID Connect provider, exactly as its discovery document gives it (e.g. https://sso.example.gov.la/realms/mof); empty: no OpenID Connect sign-in",
			set: str(func(c *Config) *string { return &c.OIDC.Issuer })},
		{Key: "oidc.client_id", Env: "GSHARE_OIDC_CLIENT_ID", Help: "client id G-Share is registered with at the provider (redirect URL: PUBLIC_URL/auth/oidc/callback)",
			set: str(func(c *Config) *string { return &c.OIDC.ClientID })},
		{Key: "oidc.client_secret", Env: "GSHARE_OIDC_CLIENT_SECRET", Help: "client secret of that registration (empty for a public client; PKCE is used either way)", Secret: true,
			set: str(func(c *Config) *string { return &c.OIDC.ClientSecret })},
		{Key: "oidc.scopes", Env: "GSHARE_OIDC_SCOPES", Default: "profile,email", Help: "comma-separated scopes asked for besides openid (add the one that brings the role claim, e.g. groups)",
			set: func(c *Config, v string) error {
				c.OIDC.Scopes = nil
				for _, sc := range strings.Split(v, ",") {
					if sc = strings.TrimSpace(sc); sc != "" && sc != "openid" {
						c.OIDC.Scopes = append(c.OIDC.Scopes, sc)
					}
				}
				return nil
			}},
		{Key: "oidc.role_claim", Env: "GSHARE_OIDC_ROLE_CLAIM", Help: "claim whose values (a string or list, e.g. groups; dotted for nested ones, e.g. realm_access.roles) oidc.role_map turns into department roles at each sign-in; empty: roles are not mapped",
			set: str(func(c *Config) *string { return &c.OIDC.RoleClaim })},
		{Key: "oidc.role_map", Env: "GSHARE_OIDC_ROLE_MAP", Help: "JSON object from a claim value to a list of \"department:role\" (\"*:admin\" for administrators), e.g. {\"mof-finance\": [\"finance:editor\"]}",
			set: str(func(c *Config) *string { return &c.OIDC.RoleMap })},
		{Key: "oidc.name", Env: "GSHARE_OIDC_NAME", Default: "OpenID Connect", Help: "the provider's name on the sign-in button (\"Sign in with NAME\")",
			set: str(func(c *Config) *string { return &c.OIDC.Name })},
		{Key: "mfa.required_roles", Env: "GSHARE_MFA_REQUIRED_ROLES", Help: "comma-separated roles (admin, manager, auditor, editor, viewer) whose holders must sign in with a second factor (TOTP); none when empty",
			set: func(c *Config, v string) error {
				c.MFARequiredRoles = nil
				var errs []error
				for _, r := range strings.Split(v, ",") {
					switch r = strings.ToLower(strings.TrimSpace(r)); r {
					case "":
					case "admin", "manager", "auditor", "editor", "viewer":
						c.MFARequiredRoles = append(c.MFARequiredRoles, r)
					default:
						errs = append(errs, fmt.Errorf("unknown role %q (admin, manager, auditor, editor or viewer)", r))
					}
				}
				return errors.Join(errs...)
			}},
		{Key: "debug_addr", Env: "GSHARE_DEBUG_ADDR", Help: "serve Go profiles (net/http/pprof) on this address, e.g. 127.0.0.1:6060; off when empty",
			set: str(func(c *Config) *string { return &c.DebugAddr })},
		{Key: "log_format", Env: "GSHARE_LOG_FORMAT", Flag: "log-format", Default: "text", Help: "log format: text or json",
			set: str(func(c *Config) *string { return &c.LogFormat })},
		{Key: "log_level", Env: "GSHARE_LOG_LEVEL", Flag: "log-level", Default: "info", Help: "log level: debug, info, warn or error",
			set: str(func(c *Config) *string { return &c.LogLevel })},
	}
	for i, st := range settings {
		if st.onOff != nil {
			settings[i].set = boolean(st.onOff)
		}
	}
	return settings
}

// flagValue holds the text of a setting's flag until Load applies it with
// the setting's own parser, so a flag and the environment variable or file
// key of one setting accept the same values.
type flagValue struct {
	text   string
	onOff  bool
	preset string // shown as the default by --help
}

func (f *flagValue) String() string {
	if f == nil {
		return ""
	}
	return f.preset
}

func (f *flagValue) Set(v string) error { f.text = v; return nil }

// IsBoolFlag lets an on/off setting's flag stand alone: the flag package
// then reads "--flag" as "--flag=true", and takes a value only after "=".
func (f *flagValue) IsBoolFlag() bool { return f.onOff }

// Load builds the configuration of gshare serve from args (its flags,
// without the command name) and environ (as os.Environ returns it). The
// file comes from --config or GSHARE_CONFIG. The returned FlagSet error
// flag.ErrHelp means --help was asked for; its text went to out.
func Load(args, environ []string, out io.Writer) (*Config, error) {
	settings := Settings()
	fs := flag.NewFlagSet("gshare serve", flag.ContinueOnError)
	fs.SetOutput(out)
	file := fs.String("config", "", "configuration file (TOML, or YAML by extension); also GSHARE_CONFIG")
	flagVals := map[string]*flagValue{}
	for _, s := range settings {
		if s.Flag != "" {
			help := s.Help + " (" + s.Env + ")"
			v := &flagValue{onOff: s.OnOff(), preset: s.Default}
			if s.OnOff() && s.Default == "false" {
				v.preset = "" // "(default false)" says nothing for an on/off flag
			}
			fs.Var(v, s.Flag, help)
			flagVals[s.Key] = v
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: gshare serve [flags]\n\nStarts the G-Share server. With no configuration it stores everything under\n./gshare-data and listens on 127.0.0.1:8080.\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(out, "\nEvery setting, its file key and environment variable: gshare serve --help-config\n")
	}
	helpConfig := fs.Bool("help-config", false, "list every setting with its file key and environment variable")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *helpConfig {
		PrintSettings(out)
		return nil, flag.ErrHelp
	}
	if fs.NArg() > 0 {
		return nil, unexpectedArg(args, fs.Args(), settings)
	}
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	if *file == "" {
		*file = env["GSHARE_CONFIG"]
	}

	c := &Config{}
	var errs []error
	apply := func(s Setting, v, from string) {
		if err := s.set(c, v); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", s.Key, from, err))
		}
	}
	for _, s := range settings {
		if s.Default != "" {
			apply(s, s.Default, "default")
		}
	}
	if *file != "" {
		vals, err := readFile(*file)
		if err != nil {
			return nil, err
		}
		for _, s := range settings {
			if v, ok := vals[s.Key]; ok {
				apply(s, v, *file)
				delete(vals, s.Key)
			}
		}
		for k := range vals {
			errs = append(errs, fmt.Errorf("%s (%s): unknown setting", k, *file))
		}
	}
	for _, s := range settings {
		if v, ok := env[s.Env]; ok {
			apply(s, v, s.Env)
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, s := range settings {
		if s.Flag != "" && set[s.Flag] {
			apply(s, flagVals[s.Key].text, "--"+s.Flag)
		}
	}
	errs = append(errs, c.validate()...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("configuration: %w", errors.Join(errs...))
	}
	return c, nil
}

// unexpectedArg explains the first argument flag parsing left over. After
// an on/off flag it is most likely that flag's value written with a
// space, which Go's flag package (like most) does not take.
func unexpectedArg(args, rest []string, settings []Setting) error {
	arg := rest[0]
	if i := len(args) - len(rest); i > 0 {
		prev := strings.TrimLeft(args[i-1], "-")
		for _, s := range settings {
			if s.OnOff() && s.Flag == prev {
				if _, err := strconv.ParseBool(arg); err == nil {
					return fmt.Errorf("unexpected argument %q: --%s is on or off by itself; to set it, write --%s=%s", arg, s.Flag, s.Flag, arg)
				}
			}
		}
	}
	return fmt.Errorf("unexpected argument %q (see gshare serve --help)", arg)
}

// readFile decodes a configuration file into dotted keys and string values.
func readFile(name string) (map[string]string, error) {
	raw, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	var tree map[string]any
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		if err := dec.Decode(&tree); err != nil && err != io.EOF {
			return nil, fmt.Errorf("configuration: %s: %w", name, err)
		}
	default:
		if _, err := toml.Decode(string(raw), &tree); err != nil {
			return nil, fmt.Errorf("configuration: %s: %w", name, err)
		}
	}
	out := map[string]string{}
	var flatten func(prefix string, m map[string]any) error
	flatten = func(prefix string, m map[string]any) error {
		for k, v := range m {
			key := prefix + k
			switch v := v.(type) {
			case map[string]any:
				if err := flatten(key+".", v); err != nil {
					return err
				}
			case []any:
				parts := make([]string, len(v))
				for i, e := range v {
					parts[i] = fmt.Sprint(e)
				}
				out[key] = strings.Join(parts, ",")
			case nil:
			default:
				out[key] = fmt.Sprint(v)
			}
		}
		return nil
	}
	if err := flatten("", tree); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *Config) validate() []error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("addr", "%q is not host:port", c.Addr)
	}
	if c.Data == "" {
		bad("data", "must not be empty")
	}
	if c.MetaURL != "" && !strings.HasPrefix(c.MetaURL, "postgres://") && !strings.HasPrefix(c.MetaURL, "postgresql://") {
		// Not echoed: the URL may hold a password.
		bad("meta_url", "want a postgres:// URL (or empty for DATA/meta.db)")
	}
	if c.S3.Endpoint != "" {
		if _, _, err := net.SplitHostPort(c.S3.Endpoint); err != nil {
			bad("s3.endpoint", "%q is not host:port (no scheme; use s3.tls for HTTPS)", c.S3.Endpoint)
		}
		if c.S3.AccessKey == "" || c.S3.SecretKey == "" {
			bad("s3.access_key", "S3 needs an access key and a secret key (GSHARE_S3_ACCESS_KEY, GSHARE_S3_SECRET_KEY)")
		}
		if n := len(c.S3.Bucket); n < 3 || n > 63 {
			bad("s3.bucket", "%q is not a valid bucket name", c.S3.Bucket)
		}
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("public_url", "%q is not an http(s) URL", c.PublicURL)
		}
	}
	if c.LDAP.URL != "" {
		u, err := url.Parse(c.LDAP.URL)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "ldap" && u.Scheme != "ldaps"):
			bad("ldap.url", "%q is not ldaps://host[:port] or ldap://host[:port]", c.LDAP.URL)
		case u.Scheme == "ldap" && !c.LDAP.StartTLS && !loopbackHost(u.Hostname()):
			bad("ldap.url", "plain ldap:// to %s would send passwords in the clear; use ldaps:// or ldap.start_tls = true", u.Hostname())
		}
		if c.LDAP.UserBase == "" {
			bad("ldap.user_base", "needed with ldap.url")
		}
		if c.LDAP.BindDN != "" && c.LDAP.BindPassword == "" {
			bad("ldap.bind_password", "needed with ldap.bind_dn (GSHARE_LDAP_BIND_PASSWORD)")
		}
		if strings.Count(c.LDAP.UserFilter, "%s") < 1 || !strings.HasPrefix(c.LDAP.UserFilter, "(") {
			bad("ldap.user_filter", "%q must be an LDAP filter holding %%s, the user name", c.LDAP.UserFilter)
		}
		if c.LDAP.SyncInterval <= 0 {
			bad("ldap.sync_interval", "must be positive")
		}
		if _, err := rolemap.Parse(c.LDAP.RoleMap); err != nil {
			bad("ldap.role_map", "%v", err)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("tls_cert", "tls_cert and tls_key go together")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("log_format", "%q is not text or json", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "%q is not debug, info, warn or error", c.LogLevel)
	}
	if c.MaxUploadSize <= 0 {
		bad("max_upload_size", "must be positive")
	}
	for _, p := range c.TrustedProxies {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				bad("trusted_proxies", "%q is not an address or CIDR block", p)
			}
		}
	}
	if c.OIDC.Issuer != "" {
		if u, err := url.Parse(c.OIDC.Issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("oidc.issuer", "%q is not an http(s) URL", c.OIDC.Issuer)
		}
		if c.OIDC.ClientID == "" {
			bad("oidc.client_id", "OpenID Connect needs the client id G-Share is registered with (GSHARE_OIDC_CLIENT_ID)")
		}
	}
	if _, err := rolemap.Parse(c.OIDC.RoleMap); err != nil {
		bad("oidc.role_map", "%v", err)
	}
	if c.OIDC.RoleMap != "" && c.OIDC.RoleClaim == "" {
		bad("oidc.role_claim", "oidc.role_map needs the claim its keys are values of")
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"upload_expiry", c.UploadExpiry}, {"session_idle", c.SessionIdle}, {"session_max", c.SessionMax},
		{"shutdown_timeout", c.ShutdownTimeout}, {"change_retention", c.ChangeRetention}, {"trash_retention", c.TrashRetention}, {"s3.timeout", c.S3.Timeout}} {
		if d.v <= 0 {
			bad(d.key, "must be positive")
		}
	}
	if c.ShutdownDrain < 0 {
		bad("shutdown_drain", "must not be negative")
	}
	return errs
}

func loopbackHost(h string) bool {
	ip := net.ParseIP(h)
	return h == "localhost" || ip != nil && ip.IsLoopback()
}

// PrintSettings writes the table of settings.
func PrintSettings(w io.Writer) {
	fmt.Fprintf(w, "%-22s %-30s %-18s %-16s %s\n", "FILE KEY", "ENVIRONMENT", "FLAG", "DEFAULT", "MEANING")
	for _, s := range Settings() {
		f := ""
		if s.Flag != "" {
			f = "--" + s.Flag
		}
		fmt.Fprintf(w, "%-22s %-30s %-18s %-16s %s\n", s.Key, s.Env, f, s.Default, s.Help)
	}
}
