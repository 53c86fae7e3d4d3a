package api

import (
	"gshare/api/router"
	"net/http"

	"gshare/acl"
)

// routes registers every endpoint with its access rule and audit action.
// This table is the whole surface of the service; the route × role test
// walks it. Only routes that refuse no one (router.Public) go without an
// action, so every refusal is audited.
func (s *Server) routes() {
	const v1 = "/api/v1"
	s.rt.Handle(http.MethodGet, "/healthz", "", router.Public{}, s.healthz)
	s.rt.Handle(http.MethodGet, "/readyz", "", router.Public{}, s.readyz)
	s.rt.Handle(http.MethodGet, "/metrics", "", router.Public{}, s.metricsHandler)
	// CORS preflights for every path under /api/ (corsTarget routes them
	// here): public, as they carry no credentials, and refusing no one.
	s.rt.Handle(http.MethodOptions, "*", "", router.Public{}, s.preflight)

	s.rt.Handle(http.MethodPost, v1+"/login", "login", router.Public{}, s.login)
	s.rt.Handle(http.MethodPost, v1+"/logout", "logout", router.User{}, s.logout).MFAStep = true
	s.rt.Handle(http.MethodGet, v1+"/me", "user.me", router.User{}, s.me)

	s.rt.Handle(http.MethodPost, v1+"/departments", "dept.create", router.Sys{Obj: "sys:depts", Act: acl.ActManage}, s.createDept)
	s.rt.Handle(http.MethodGet, v1+"/departments", "dept.list", router.User{}, s.listDepts)
	s.rt.Handle(http.MethodGet, v1+"/departments/{}/members", "dept.members", router.Sys{Obj: "sys:members", Act: acl.ActManage, Dept: deptParam}, s.members)
	s.rt.Handle(http.MethodGet, v1+"/departments/{}/grants", "grant.list", router.Sys{Obj: "sys:grants", Act: acl.ActManage, Dept: deptParam}, s.listGrants)

	users := router.Sys{Obj: "sys:users", Act: acl.ActManage}
	s.rt.Handle(http.MethodPost, v1+"/users", "user.create", users, s.createUser)
	s.rt.Handle(http.MethodGet, v1+"/users", "user.list", users, s.listUsers)
	s.rt.Handle(http.MethodPatch, v1+"/users/{}", "user.update", users, s.updateUser)
	s.rt.Handle(http.MethodDelete, v1+"/users/{}", "user.delete", users, s.deleteUser)
	s.rt.Handle(http.MethodPut, v1+"/users/{}/password", "user.password", users, s.setPassword)
	s.rt.Handle(http.MethodGet, v1+"/users/{}/roles", "role.list", router.Deferred{Why: "self, or sys:users manage"}, s.userRoles)
	s.rt.Handle(http.MethodPut, v1+"/users/{}/roles", "role.grant", router.Deferred{Why: "sys:members manage in the department for viewer and editor, sys:roles manage otherwise"}, s.grantRole)
	s.rt.Handle(http.MethodDelete, v1+"/users/{}/roles", "role.revoke", router.Deferred{Why: "as role.grant"}, s.revokeRole)
	s.rt.Handle(http.MethodPut, v1+"/me/password", "user.password", router.User{}, s.changeOwnPassword)
	s.rt.Handle(http.MethodGet, v1+"/lockouts", "lockout.list", users, s.lockouts)
	s.rt.Handle(http.MethodGet, v1+"/storage", "storage.read", router.Sys{Obj: "sys:depts", Act: acl.ActManage}, s.storageFigures)
	s.rt.Handle(http.MethodDelete, v1+"/lockouts/{}", "lockout.clear", users, s.clearLockout)

	s.rt.Handle(http.MethodPost, v1+"/grants", "grant.add", router.Deferred{Why: "sys:grants manage in the folder's department"}, s.addGrant)
	s.rt.Handle(http.MethodDelete, v1+"/grants", "grant.remove", router.Deferred{Why: "sys:grants manage in the folder's department"}, s.removeGrant)

	s.rt.Handle(http.MethodPost, v1+"/tokens", "token.create", router.User{}, s.createToken)
	s.rt.Handle(http.MethodGet, v1+"/tokens", "token.list", router.User{}, s.listTokens)
	s.rt.Handle(http.MethodDelete, v1+"/tokens/{}", "token.revoke", router.User{}, s.revokeToken)

	s.rt.Handle(http.MethodPost, v1+"/shares", "share.create", router.Deferred{Why: "share on the file"}, s.createShare)
	s.rt.Handle(http.MethodGet, v1+"/shares", "share.list", router.User{}, s.listShares)
	s.rt.Handle(http.MethodDelete, v1+"/shares/{}", "share.revoke", router.Deferred{Why: "creator, or share on the file"}, s.revokeShare)
	s.rt.Handle(http.MethodGet, "/s/{}", "share.download", shareAccess{s}, s.shareDownload)
	s.rt.Handle(http.MethodGet, v1+"/departments/{}/settings", "dept.settings.read", router.Sys{Obj: "sys:members", Act: acl.ActManage, Dept: deptParam}, s.deptSettings)
	s.rt.Handle(http.MethodPut, v1+"/departments/{}/settings", "dept.settings", router.Sys{Obj: "sys:members", Act: acl.ActManage, Dept: deptParam}, s.setDeptSettings)
	s.rt.Handle(http.MethodGet, "/app/shares", "share.list", router.User{}, s.pageShares).Page = true
	s.rt.Handle(http.MethodGet, "/r/{}", "request.page", requestAccess{s}, s.pageRequest).Page = true
	s.rt.Handle(http.MethodHead, "/s/{}", "share.stat", shareAccess{s}, s.shareDownload)

	s.rt.Handle(http.MethodGet, v1+"/files/...", "file.read", router.Doc{Act: acl.ActRead}, s.getFile)
	s.rt.Handle(http.MethodHead, v1+"/files/...", "file.stat", router.Doc{Act: acl.ActRead}, s.getFile)
	s.rt.Handle(http.MethodPut, v1+"/files/...", "file.write", router.Doc{Act: acl.ActWrite}, s.putFile)
	s.rt.Handle(http.MethodDelete, v1+"/files/...", "file.delete", router.Doc{Act: acl.ActDelete, Tree: true}, s.deleteFile)
	s.rt.Handle(http.MethodGet, v1+"/thumbnails/...", "file.preview", router.Doc{Act: acl.ActRead}, s.thumbnail)
	s.rt.Handle(http.MethodGet, v1+"/tree/...", "folder.list", router.Doc{Act: acl.ActRead}, s.tree)
	s.rt.Handle(http.MethodPost, v1+"/folders/...", "folder.create", router.Doc{Act: acl.ActWrite}, s.mkdir)
	s.rt.Handle(http.MethodPost, v1+"/zip", "zip.download", router.Deferred{Why: "read on every file (everything below a folder) named"}, s.zipDownload)
	s.rt.Handle(http.MethodPost, v1+"/move", "file.move", router.Deferred{Why: "delete on from, write on to"}, s.move)
	s.rt.Handle(http.MethodGet, v1+"/versions/...", "file.versions", router.Doc{Act: acl.ActRead}, s.versions)
	s.rt.Handle(http.MethodPost, v1+"/restore/...", "file.restore", router.Doc{Act: acl.ActWrite}, s.restore)
	s.rt.Handle(http.MethodGet, v1+"/trash/{}", "trash.list", router.Deferred{Why: "read in the department; each entry filtered by read where it was"}, s.listTrash).DeptParam = true
	s.rt.Handle(http.MethodPost, v1+"/trash/{}/{}/restore", "trash.restore", router.Deferred{Why: "read on the entry where it was, write on everything restored where it lands"}, s.restoreTrash).DeptParam = true
	s.rt.Handle(http.MethodDelete, v1+"/trash/{}/{}", "trash.purge", router.Deferred{Why: "read on the entry, sys:trash manage, delete on everything purged"}, s.purgeTrash).DeptParam = true
	s.rt.Handle(http.MethodGet, v1+"/changes", "changes.read", router.Deferred{Why: "read on the department, or a folder grant in it; each change filtered by read"}, s.changes)

	s.dav.Register(s.rt)
	s.nc.Register(s.rt)

	s.pageRoutes()
	s.mfaRoutes()
	s.webauthnRoutes()
	s.sessionRoutes()

	if s.d.AuditLog != nil {
		auditor := router.Sys{Obj: "sys:audit", Act: acl.ActAudit, Dept: auditDept}
		s.rt.Handle(http.MethodGet, v1+"/audit", "audit.read", auditor, s.auditSearch)
		s.rt.Handle(http.MethodGet, v1+"/audit/export", "audit.export", auditor, s.auditExport)
		s.rt.Handle(http.MethodGet, v1+"/audit/checkpoint", "audit.checkpoint", auditor, s.auditCheckpoint)
		s.rt.Handle(http.MethodGet, v1+"/audit/verify", "audit.verify", router.Sys{Obj: "sys:audit", Act: acl.ActAudit}, s.auditVerify)
		s.rt.Handle(http.MethodGet, v1+"/reports/document", "report.document", router.Deferred{Why: "sys:audit in the document's department"}, s.reportDocument)
		s.rt.Handle(http.MethodGet, v1+"/reports/user", "report.user", auditor, s.reportUser)
		s.rt.Handle(http.MethodGet, v1+"/reports/department", "report.department", auditor, s.reportDepartment)
		s.rt.Handle(http.MethodGet, v1+"/reports/unusual", "report.unusual", auditor, s.reportUnusual)
	}

	if s.d.Ops != nil {
		keysRule := router.Sys{Obj: "sys:keys", Act: acl.ActManage}
		s.rt.Handle(http.MethodGet, v1+"/keys", "key.status", keysRule, s.keysStatus)
		s.rt.Handle(http.MethodPost, v1+"/keys/rotate", "key.rotate", keysRule, s.rotateKey)
		s.rt.Handle(http.MethodPost, v1+"/keys/rotate-master", "key.rotate-master", keysRule, s.rotateMaster)
		s.rt.Handle(http.MethodDelete, v1+"/keys/master-old", "key.confirm-master", keysRule, s.confirmMaster)
		s.rt.Handle(http.MethodPost, v1+"/keys/shred", "key.shred", keysRule, s.shred)
		s.rt.Handle(http.MethodGet, v1+"/backup", "backup.create", router.Sys{Obj: "sys:backup", Act: acl.ActManage}, s.backupDownload)
		s.rt.Handle(http.MethodGet, v1+"/check", "check.run", router.Sys{Obj: "sys:check", Act: acl.ActManage}, s.check)
	}

	if s.tus != nil {
		s.tus.Register(s.rt)
	}
	if s.chunks != nil {
		s.chunks.Register(s.rt)
	}
}
