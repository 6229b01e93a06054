package mapping

import "github.com/dirsync-go/dirsync/diff"

// ADSpec returns the default spec for Active Directory (and other LDAP
// directories with AD attribute names). See the package documentation for
// the attributes it reads.
func ADSpec() Spec {
	return NewBuilder().
		From(diff.FieldUsername, "sAMAccountName").Transform("lower").
		From(diff.FieldEmail, "mail", "userPrincipalName").Transform("lower").
		From(diff.FieldGivenName, "givenName").
		From(diff.FieldFamilyName, "sn").
		From(diff.FieldDisplayName, "displayName").
		Template(diff.FieldDisplayName, "{givenName} {sn}").
		From(diff.FieldTitle, "title").
		From(diff.FieldPhone, "telephoneNumber", "mobile").
		From(diff.FieldManager, "manager").Lookup("mail").Transform("lower").
		From(diff.FieldManager, "manager").Lookup("userPrincipalName").Transform("lower").
		From(diff.FieldDepartment, "department").
		Path(diff.FieldDepartment).TrimSuffixes("users", "user").
		Spec()
}

// EntraSpec returns the default spec for Microsoft Entra ID, with Microsoft
// Graph user property names. See the package documentation for the
// properties it reads.
func EntraSpec() Spec {
	return NewBuilder().
		From(diff.FieldUsername, "userPrincipalName").Transform("lower").
		From(diff.FieldEmail, "mail", "userPrincipalName").Transform("lower").
		From(diff.FieldGivenName, "givenName").
		From(diff.FieldFamilyName, "surname").
		From(diff.FieldDisplayName, "displayName").
		Template(diff.FieldDisplayName, "{givenName} {surname}").
		From(diff.FieldTitle, "jobTitle").
		From(diff.FieldPhone, "businessPhones", "mobilePhone").
		From(diff.FieldManager, "manager").Lookup("mail").Transform("lower").
		From(diff.FieldManager, "manager").Lookup("userPrincipalName").Transform("lower").
		From(diff.FieldDepartment, "department").
		Spec()
}

// GoogleSpec returns the default spec for Google Workspace, with the dotted
// field names of the Admin SDK Directory API user resource. See the package
// documentation for the fields it reads.
func GoogleSpec() Spec {
	return NewBuilder().
		From(diff.FieldUsername, "primaryEmail").Transform("lower").
		From(diff.FieldEmail, "primaryEmail").Transform("lower").
		From(diff.FieldGivenName, "name.givenName").
		From(diff.FieldFamilyName, "name.familyName").
		From(diff.FieldDisplayName, "name.fullName").
		Template(diff.FieldDisplayName, "{name.givenName} {name.familyName}").
		From(diff.FieldTitle, "organizations.title").
		From(diff.FieldPhone, "phones.work", "phones.value").
		From(diff.FieldManager, "relations.manager").Transform("lower").
		From(diff.FieldDepartment, "organizations.department").
		From(diff.FieldDepartment, "orgUnitPath").Split("/").
		Spec()
}

// SCIMSpec returns the default spec for users pushed over SCIM 2.0 (package
// connector/scim), with the attribute names that connector gives an entry:
// the core User schema's attributes (userName, displayName, title, …), the
// sub-attributes of name as "name.givenName", a multi-valued attribute as
// its values ("emails", primary first), by type ("emails.work") and its
// primary value ("emails.primary"), and the enterprise extension's
// attributes without their URN (department, employeeNumber, manager holding
// the manager's SCIM id). Custom attributes declared in the SCIM
// integration's scim.Config.Extensions are entry attributes too (a custom
// extension's under "urn:…:2.0:user:<name>" and, where unambiguous, its
// bare name); add a rule to use one, e.g. From(diff.FieldDepartment,
// "urn:ietf:params:scim:schemas:extension:Acme:2.0:User:costCode").
func SCIMSpec() Spec {
	return NewBuilder().
		From(diff.FieldUsername, "userName").Transform("lower").
		From(diff.FieldEmail, "emails.primary", "emails.work", "emails").Transform("lower").
		From(diff.FieldGivenName, "name.givenName").
		From(diff.FieldFamilyName, "name.familyName").
		From(diff.FieldDisplayName, "displayName", "name.formatted").
		Template(diff.FieldDisplayName, "{name.givenName} {name.familyName}").
		From(diff.FieldTitle, "title").
		From(diff.FieldPhone, "phoneNumbers.work", "phoneNumbers.primary", "phoneNumbers.mobile", "phoneNumbers").
		From(diff.FieldManager, "manager").Lookup("emails.primary").Transform("lower").
		From(diff.FieldManager, "manager").Lookup("emails.work").Transform("lower").
		From(diff.FieldManager, "manager").Lookup("userName").Transform("lower").
		From(diff.FieldDepartment, "department").
		Spec()
}
