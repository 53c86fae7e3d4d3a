package api

import (
	"net/http"

	"gshare/acl"
)

// routes registers every endpoint with its access rule and audit action.
// This table is the whole surface of the service; the route × role test
// walks it.
func (s *Server) routes() {
	const v1 = "/api/v1"
	s.handle(http.MethodGet, "/healthz", "", publicAccess{}, s.healthz)
	s.handle(http.MethodGet, "/readyz", "", publicAccess{}, s.readyz)
	s.handle(http.MethodGet, "/metrics", "", publicAccess{}, s.metricsHandler)

	s.handle(http.MethodPost, v1+"/login", "login", publicAccess{}, s.login)
	s.handle(http.MethodPost, v1+"/logout", "logout", userAccess{}, s.logout)
	s.handle(http.MethodGet, v1+"/me", "", userAccess{}, s.me)

	s.handle(http.MethodPost, v1+"/departments", "dept.create", sysAccess{obj: "sys:depts", act: acl.ActManage}, s.createDept)
	s.handle(http.MethodGet, v1+"/departments", "dept.list", userAccess{}, s.listDepts)
	s.handle(http.MethodGet, v1+"/departments/{}/members", "dept.members", sysAccess{obj: "sys:members", act: acl.ActManage, dept: deptParam}, s.members)
	s.handle(http.MethodGet, v1+"/departments/{}/grants", "grant.list", sysAccess{obj: "sys:grants", act: acl.ActManage, dept: deptParam}, s.listGrants)

	users := sysAccess{obj: "sys:users", act: acl.ActManage}
	s.handle(http.MethodPost, v1+"/users", "user.create", users, s.createUser)
	s.handle(http.MethodGet, v1+"/users", "user.list", users, s.listUsers)
	s.handle(http.MethodPatch, v1+"/users/{}", "user.update", users, s.updateUser)
	s.handle(http.MethodDelete, v1+"/users/{}", "user.delete", users, s.deleteUser)
	s.handle(http.MethodPut, v1+"/users/{}/password", "user.password", users, s.setPassword)
	s.handle(http.MethodGet, v1+"/users/{}/roles", "role.list", handlerAccess{"self, or sys:users manage"}, s.userRoles)
	s.handle(http.MethodPut, v1+"/users/{}/roles", "role.grant", handlerAccess{"sys:members manage in the department for viewer and editor, sys:roles manage otherwise"}, s.grantRole)
	s.handle(http.MethodDelete, v1+"/users/{}/roles", "role.revoke", handlerAccess{"as role.grant"}, s.revokeRole)
	s.handle(http.MethodPut, v1+"/me/password", "user.password", userAccess{}, s.changeOwnPassword)
	s.handle(http.MethodGet, v1+"/lockouts", "", users, s.lockouts)
	s.handle(http.MethodDelete, v1+"/lockouts/{}", "lockout.clear", users, s.clearLockout)

	s.handle(http.MethodPost, v1+"/grants", "grant.add", handlerAccess{"sys:grants manage in the folder's department"}, s.addGrant)
	s.handle(http.MethodDelete, v1+"/grants", "grant.remove", handlerAccess{"sys:grants manage in the folder's department"}, s.removeGrant)

	s.handle(http.MethodPost, v1+"/tokens", "token.create", userAccess{}, s.createToken)
	s.handle(http.MethodGet, v1+"/tokens", "", userAccess{}, s.listTokens)
	s.handle(http.MethodDelete, v1+"/tokens/{}", "token.revoke", userAccess{}, s.revokeToken)

	s.handle(http.MethodPost, v1+"/shares", "share.create", handlerAccess{"share on the file"}, s.createShare)
	s.handle(http.MethodGet, v1+"/shares", "", userAccess{}, s.listShares)
	s.handle(http.MethodDelete, v1+"/shares/{}", "share.revoke", handlerAccess{"creator, or share on the file"}, s.revokeShare)
	s.handle(http.MethodGet, "/s/{}", "share.download", shareAccess{}, s.shareDownload)
	s.handle(http.MethodHead, "/s/{}", "share.stat", shareAccess{}, s.shareDownload)

	s.handle(http.MethodGet, v1+"/files/...", "file.read", docAccess{act: acl.ActRead}, s.getFile)
	s.handle(http.MethodHead, v1+"/files/...", "file.stat", docAccess{act: acl.ActRead}, s.getFile)
	s.handle(http.MethodPut, v1+"/files/...", "file.write", docAccess{act: acl.ActWrite}, s.putFile)
	s.handle(http.MethodDelete, v1+"/files/...", "file.delete", docAccess{act: acl.ActDelete, tree: true}, s.deleteFile)
	s.handle(http.MethodGet, v1+"/tree/...", "folder.list", docAccess{act: acl.ActRead}, s.tree)
	s.handle(http.MethodPost, v1+"/folders/...", "folder.create", docAccess{act: acl.ActWrite}, s.mkdir)
	s.handle(http.MethodPost, v1+"/move", "file.move", handlerAccess{"delete on from, write on to"}, s.move)
	s.handle(http.MethodGet, v1+"/versions/...", "file.versions", docAccess{act: acl.ActRead}, s.versions)
	s.handle(http.MethodPost, v1+"/restore/...", "file.restore", docAccess{act: acl.ActWrite}, s.restore)
	s.handle(http.MethodGet, v1+"/trash/{}", "trash.list", handlerAccess{"read in the department; each entry filtered by read where it was"}, s.listTrash).deptParam = true
	s.handle(http.MethodPost, v1+"/trash/{}/{}/restore", "trash.restore", handlerAccess{"read on the entry where it was, write on everything restored where it lands"}, s.restoreTrash).deptParam = true
	s.handle(http.MethodDelete, v1+"/trash/{}/{}", "trash.purge", handlerAccess{"read on the entry, sys:trash manage, delete on everything purged"}, s.purgeTrash).deptParam = true
	s.handle(http.MethodGet, v1+"/changes", "changes.read", handlerAccess{"read on the department, or a folder grant in it; each change filtered by read"}, s.changes)

	for method, action := range map[string]string{
		"OPTIONS": "", "PROPFIND": "folder.list", "PROPPATCH": "file.props", "MKCOL": "folder.create",
		"GET": "file.read", "HEAD": "file.stat", "PUT": "file.write", "DELETE": "file.delete",
		"COPY": "file.copy", "MOVE": "file.move", "LOCK": "file.lock", "UNLOCK": "file.unlock",
	} {
		s.handle(method, davPrefix+"/...", action, davAccess{}, s.dav)
	}

	s.pageRoutes()

	if s.d.AuditLog != nil {
		auditor := sysAccess{obj: "sys:audit", act: acl.ActAudit, dept: auditDept}
		s.handle(http.MethodGet, v1+"/audit", "audit.read", auditor, s.auditSearch)
		s.handle(http.MethodGet, v1+"/audit/export", "audit.export", auditor, s.auditExport)
		s.handle(http.MethodGet, v1+"/audit/checkpoint", "audit.checkpoint", auditor, s.auditCheckpoint)
		s.handle(http.MethodGet, v1+"/audit/verify", "audit.verify", sysAccess{obj: "sys:audit", act: acl.ActAudit}, s.auditVerify)
		s.handle(http.MethodGet, v1+"/reports/document", "report.document", handlerAccess{"sys:audit in the document's department"}, s.reportDocument)
		s.handle(http.MethodGet, v1+"/reports/user", "report.user", auditor, s.reportUser)
		s.handle(http.MethodGet, v1+"/reports/department", "report.department", auditor, s.reportDepartment)
		s.handle(http.MethodGet, v1+"/reports/unusual", "report.unusual", auditor, s.reportUnusual)
	}

	if s.d.Ops != nil {
		keysRule := sysAccess{obj: "sys:keys", act: acl.ActManage}
		s.handle(http.MethodGet, v1+"/keys", "", keysRule, s.keysStatus)
		s.handle(http.MethodPost, v1+"/keys/rotate", "key.rotate", keysRule, s.rotateKey)
		s.handle(http.MethodPost, v1+"/keys/rotate-master", "key.rotate-master", keysRule, s.rotateMaster)
		s.handle(http.MethodDelete, v1+"/keys/master-old", "key.confirm-master", keysRule, s.confirmMaster)
		s.handle(http.MethodPost, v1+"/keys/shred", "key.shred", keysRule, s.shred)
		s.handle(http.MethodGet, v1+"/backup", "backup.create", sysAccess{obj: "sys:backup", act: acl.ActManage}, s.backupDownload)
		s.handle(http.MethodGet, v1+"/check", "check.run", sysAccess{obj: "sys:check", act: acl.ActManage}, s.check)
	}

	if s.tus != nil {
		for _, base := range []string{v1 + "/uploads", uploadsBase} {
			s.handle(http.MethodPost, base, "upload.create", uploadCreateAccess{}, s.tusCreate)
			s.handle(http.MethodOptions, base, "", publicAccess{}, s.tusOptions)
		}
		s.handle(http.MethodHead, uploadsBase+"...", "upload.stat", uploadAccess{}, s.tusHead)
		s.handle(http.MethodPatch, uploadsBase+"...", "upload.write", uploadAccess{}, s.tusPatch)
		s.handle(http.MethodDelete, uploadsBase+"...", "upload.terminate", uploadAccess{}, s.tusDelete)
	}
}
