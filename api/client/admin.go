package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"gshare/api/wire"
)

// Login signs in with a password. Use the answer's token with WithToken;
// for long-lived use (sync, scripts) create a device token with it.
func (c *Client) Login(ctx context.Context, username, password string) (wire.Session, error) {
	var s wire.Session
	err := c.call(ctx, http.MethodPost, "/api/v1/login", wire.Login{Username: username, Password: password}, &s)
	return s, err
}

// Logout ends the session of the client's token.
func (c *Client) Logout(ctx context.Context) error {
	return c.call(ctx, http.MethodPost, "/api/v1/logout", nil, nil)
}

// Me returns the user the token belongs to.
func (c *Client) Me(ctx context.Context) (wire.Me, error) {
	var out struct {
		User wire.Me `json:"user"`
	}
	err := c.call(ctx, http.MethodGet, "/api/v1/me", nil, &out)
	return out.User, err
}

// CreateToken creates a device token for the caller; its secret (Token) is
// in this answer only.
func (c *Client) CreateToken(ctx context.Context, name string) (wire.Token, error) {
	var t wire.Token
	err := c.call(ctx, http.MethodPost, "/api/v1/tokens", wire.NewToken{Name: name}, &t)
	return t, err
}

// Tokens lists the caller's device tokens.
func (c *Client) Tokens(ctx context.Context) ([]wire.Token, error) {
	var out wire.Tokens
	err := c.call(ctx, http.MethodGet, "/api/v1/tokens", nil, &out)
	return out.Tokens, err
}

// RevokeToken deletes one of the caller's device tokens.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, "/api/v1/tokens/"+url.PathEscape(id), nil, nil)
}

// CreateDept creates a department.
func (c *Client) CreateDept(ctx context.Context, d wire.NewDept) (wire.Dept, error) {
	var out wire.Dept
	err := c.call(ctx, http.MethodPost, "/api/v1/departments", d, &out)
	return out, err
}

// Depts lists the departments the caller may see: all of them for an
// administrator, those they hold a role in for anyone else.
func (c *Client) Depts(ctx context.Context) ([]wire.Dept, error) {
	var out wire.Depts
	err := c.call(ctx, http.MethodGet, "/api/v1/departments", nil, &out)
	return out.Departments, err
}

// CreateUser creates a user.
func (c *Client) CreateUser(ctx context.Context, u wire.NewUser) (wire.User, error) {
	var out wire.User
	err := c.call(ctx, http.MethodPost, "/api/v1/users", u, &out)
	return out, err
}

// Users lists every user with their roles.
func (c *Client) Users(ctx context.Context) ([]wire.User, error) {
	var out wire.Users
	err := c.call(ctx, http.MethodGet, "/api/v1/users", nil, &out)
	return out.Users, err
}

// UpdateUser changes a user's name or disables (enables) the account;
// disabling ends their sessions and tokens.
func (c *Client) UpdateUser(ctx context.Context, username string, u wire.UserUpdate) (wire.User, error) {
	var out wire.User
	err := c.call(ctx, http.MethodPatch, "/api/v1/users/"+url.PathEscape(username), u, &out)
	return out, err
}

// SetPassword sets a user's password (an administrator's reset); their
// sessions and tokens end.
func (c *Client) SetPassword(ctx context.Context, username, password string) error {
	return c.call(ctx, http.MethodPut, "/api/v1/users/"+url.PathEscape(username)+"/password", wire.Password{Password: password}, nil)
}

// GrantRole gives a user a role in a department ("*": all).
func (c *Client) GrantRole(ctx context.Context, username string, r wire.Role) (wire.User, error) {
	var out wire.User
	err := c.call(ctx, http.MethodPut, "/api/v1/users/"+url.PathEscape(username)+"/roles", r, &out)
	return out, err
}

// RevokeRole takes a role away.
func (c *Client) RevokeRole(ctx context.Context, username string, r wire.Role) (wire.User, error) {
	var out wire.User
	err := c.call(ctx, http.MethodDelete, "/api/v1/users/"+url.PathEscape(username)+"/roles", r, &out)
	return out, err
}

// Keys returns the status of every department key.
func (c *Client) Keys(ctx context.Context) (wire.Keys, error) {
	var out wire.Keys
	err := c.call(ctx, http.MethodGet, "/api/v1/keys", nil, &out)
	return out, err
}

// RotateKey starts the rotation of a department's key; it runs on in the
// server's background.
func (c *Client) RotateKey(ctx context.Context, dept string) (wire.KeyJob, error) {
	var out wire.KeyJob
	err := c.call(ctx, http.MethodPost, "/api/v1/keys/rotate", wire.DeptRequest{Dept: dept}, &out)
	return out, err
}

// RotateMaster re-wraps every department key under a new master key.
func (c *Client) RotateMaster(ctx context.Context) (wire.KeyJob, error) {
	var out wire.KeyJob
	err := c.call(ctx, http.MethodPost, "/api/v1/keys/rotate-master", nil, &out)
	return out, err
}

// ConfirmMaster deletes the old master key file after a rotation.
func (c *Client) ConfirmMaster(ctx context.Context) error {
	return c.call(ctx, http.MethodDelete, "/api/v1/keys/master-old", nil, nil)
}

// Shred destroys a department's keys, and with them every document of
// it; confirm must repeat dept.
func (c *Client) Shred(ctx context.Context, dept, confirm string) (wire.KeyJob, error) {
	var out wire.KeyJob
	err := c.call(ctx, http.MethodPost, "/api/v1/keys/shred", wire.DeptRequest{Dept: dept, Confirm: confirm}, &out)
	return out, err
}

// Backup returns a sealed snapshot of the server's metadata, to be read
// to the end and closed. It is only returned once the server has accepted
// the request, so nothing need be written for a refusal.
func (c *Client) Backup(ctx context.Context) (io.ReadCloser, error) {
	return c.stream(ctx, "/api/v1/backup")
}

// AuditQuery selects the entries of an audit export.
type AuditQuery struct {
	From, To string // RFC 3339 times or dates; To is exclusive
	Dept     string // only this department (an auditor's scope)
	Since    int64  // add a consistency proof from a checkpoint of this size
}

// AuditExport returns the audit log as JSON Lines ending in a signed
// checkpoint, to be read to the end and closed.
func (c *Client) AuditExport(ctx context.Context, q AuditQuery) (io.ReadCloser, error) {
	v := url.Values{}
	for k, s := range map[string]string{"from": q.From, "to": q.To, "dept": q.Dept} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Since > 0 {
		v.Set("since", strconv.FormatInt(q.Since, 10))
	}
	return c.stream(ctx, "/api/v1/audit/export?"+v.Encode())
}

// CheckOptions are the choices of Check.
type CheckOptions struct {
	Deep   bool          // decrypt and authenticate every segment (reads all data)
	Repair bool          // delete orphan objects older than Grace
	Grace  time.Duration // 0: the server's default (24 h)
}

// Check looks for orphan, missing and damaged objects.
func (c *Client) Check(ctx context.Context, o CheckOptions) (wire.CheckReport, error) {
	q := "/api/v1/check?deep=" + strconv.FormatBool(o.Deep) + "&repair=" + strconv.FormatBool(o.Repair)
	if o.Grace > 0 {
		q += "&grace=" + o.Grace.String()
	}
	var out wire.CheckReport
	err := c.call(ctx, http.MethodGet, q, nil, &out)
	return out, err
}

// stream GETs path and returns the body of a successful answer.
func (c *Client) stream(ctx context.Context, path string) (io.ReadCloser, error) {
	req, err := c.request(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	res, err := c.send(req)
	if err != nil {
		return nil, err
	}
	return res.Body, nil
}
