-- 0006: a namespace may be opened to credential-less reads and watches from
-- given networks (clients that cannot authenticate: ctrip-apollo, old Nacos
-- clients). A comma list of CIDRs; '' (the default) is closed.
ALTER TABLE namespaces ADD COLUMN anonymous_read TEXT NOT NULL DEFAULT '';
