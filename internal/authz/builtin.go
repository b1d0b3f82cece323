package authz

import (
	"sort"
	"strings"
)

// The built-in role catalog.
//
// Source of truth: the role definitions Azure itself returns (GET
// /providers/Microsoft.Authorization/roleDefinitions/{guid}), as published in the generated
// azure-docs pages articles/role-based-access-control/built-in-roles/{general,privileged,
// identity,compute,security,storage}.md (2025-2026 revisions). GUIDs, role names, descriptions
// (the API's "description", which sometimes differs from the docs' prose) and permission lists
// are copied as data, in Azure's order and spelling; Azure's mixed casing
// ("Microsoft.Insights/AlertRules/*", "listkeys/action") is kept because clients compare the
// JSON. Only the subset Cerulean's providers need is included; any other Azure role can be
// added as a custom role with the same GUID.

// kvCommon is the control-plane action list shared by the Key Vault data roles that grant
// read access to vaults (Administrator, Reader, Secrets Officer, Crypto Officer,
// Certificates Officer).
var kvCommon = []string{
	"Microsoft.Authorization/*/read",
	"Microsoft.Insights/alertRules/*",
	"Microsoft.Resources/deployments/*",
	"Microsoft.Resources/subscriptions/resourceGroups/read",
	"Microsoft.Support/*",
	"Microsoft.KeyVault/checkNameAvailability/read",
	"Microsoft.KeyVault/deletedVaults/read",
	"Microsoft.KeyVault/locations/*/read",
	"Microsoft.KeyVault/vaults/*/read",
	"Microsoft.KeyVault/operations/read",
}

// kvDataRoleGUIDs are the eight Key Vault data roles Key Vault Data Access Administrator may
// assign or remove, in Azure's order.
const kvDataRoleGUIDs = "00482a5a-887f-4fb3-b363-3b7fe8e74483, a4417e6f-fecd-4de8-b567-7b0420556985, " +
	"14b46e9e-c2b7-41b4-b07b-48a6ebf60603, e147488a-f6f5-4113-8e2d-b22465e65bf6, " +
	"12338af0-0e69-4776-bea7-57ae8d297424, 21090545-7ca7-4776-b22c-e363652d74d2, " +
	"b86a8fe4-44ce-4948-aee5-eccb2c155cd7, 4633458b-17de-408a-b874-0445c86b69e6"

// delegationCondition is the shape Azure uses for "may assign and remove only these roles".
func delegationCondition(guids string) string {
	return "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR " +
		"(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals{" + guids + "})) AND " +
		"((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR " +
		"(@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals{" + guids + "}))"
}

// fileSyncAdminCondition is Azure File Sync Administrator's built-in condition: it may create
// role assignments only for Reader and Data Access, Storage File Data Privileged Contributor
// and Storage Account Contributor, and only for service principals.
const fileSyncAdminCondition = "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR " +
	"((@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals " +
	"{c12c1c16-33a1-487b-954d-41c89c60f349, 69566ab7-960f-475b-8e7c-b3118f30c6bd, 17d1049b-9a84-46fb-8f53-869881c3d3ab}) " +
	"AND (@Request[Microsoft.Authorization/roleAssignments:PrincipalType] StringEqualsIgnoreCase 'ServicePrincipal')))"

const kvRBACOnly = " Only works for key vaults that use the 'Azure role-based access control' permission model."

func join(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func list(s ...string) []string { return s }

func role(guid, name, desc string, perms ...Permission) RoleDefinition {
	return RoleDefinition{
		Name:             guid,
		RoleName:         name,
		Description:      desc,
		RoleType:         RoleTypeBuiltIn,
		Permissions:      perms,
		AssignableScopes: []string{"/"},
	}
}

func actionsOnly(a ...string) Permission { return Permission{Actions: a} }

func dataOnly(d ...string) Permission { return Permission{DataActions: d} }

const (
	msStorage = "Microsoft.Storage/storageAccounts/"
	msFiles   = "Microsoft.Storage/storageAccounts/fileServices/"
	msShares  = "Microsoft.Storage/storageAccounts/fileServices/fileshares/files/"
	msBlobs   = "Microsoft.Storage/storageAccounts/blobServices/"
	msQueues  = "Microsoft.Storage/storageAccounts/queueServices/"
	msTables  = "Microsoft.Storage/storageAccounts/tableServices/"
	msKV      = "Microsoft.KeyVault/vaults/"
)

var builtinCatalog = []RoleDefinition{
	// General and privileged.
	role("8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "Owner",
		"Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
		actionsOnly("*")),
	role("b24988ac-6180-42a0-ab88-20f7382dd24c", "Contributor",
		"Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
		Permission{
			Actions: list("*"),
			NotActions: list(
				"Microsoft.Authorization/*/Delete",
				"Microsoft.Authorization/*/Write",
				"Microsoft.Authorization/elevateAccess/Action",
				"Microsoft.Blueprint/blueprintAssignments/write",
				"Microsoft.Blueprint/blueprintAssignments/delete",
				"Microsoft.Compute/galleries/share/action",
				"Microsoft.Purview/consents/write",
				"Microsoft.Purview/consents/delete",
				"Microsoft.Resources/deploymentStacks/manageDenySetting/action",
				"Microsoft.Subscription/cancel/action",
				"Microsoft.Subscription/enable/action",
			),
		}),
	role("acdd72a7-3385-48ef-bd42-f606fba81ae7", "Reader",
		"View all resources, but does not allow you to make any changes.",
		actionsOnly("*/read")),
	role("18d7d88d-d35e-4fb5-a5c3-7773c20a72d9", "User Access Administrator",
		"Lets you manage user access to Azure resources.",
		actionsOnly("*/read", "Microsoft.Authorization/*", "Microsoft.Support/*")),
	role("f58310d9-a9f6-439a-9e8d-f62e7b41a168", "Role Based Access Control Administrator",
		"Manage access to Azure resources by assigning roles using Azure RBAC. This role does not allow you to manage access using other ways, such as Azure Policy.",
		actionsOnly(
			"Microsoft.Authorization/roleAssignments/write",
			"Microsoft.Authorization/roleAssignments/delete",
			"*/read",
			"Microsoft.Support/*",
		)),

	// Identity.
	role("e40ec5ca-96e0-45a2-b4ff-59039f2c2b59", "Managed Identity Contributor",
		"Create, Read, Update, and Delete User Assigned Identity",
		actionsOnly(
			"Microsoft.ManagedIdentity/userAssignedIdentities/read",
			"Microsoft.ManagedIdentity/userAssignedIdentities/write",
			"Microsoft.ManagedIdentity/userAssignedIdentities/delete",
			"Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/read",
			"Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write",
			"Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/delete",
			"Microsoft.ManagedIdentity/userAssignedIdentities/revokeTokens/action",
			"Microsoft.Authorization/*/read",
			"Microsoft.Insights/alertRules/*",
			"Microsoft.Resources/subscriptions/resourceGroups/read",
			"Microsoft.Resources/deployments/*",
			"Microsoft.Support/*",
		)),
	role("f1a07417-d97a-45cb-824c-7a7467783830", "Managed Identity Operator",
		"Read and Assign User Assigned Identity",
		actionsOnly(
			"Microsoft.ManagedIdentity/userAssignedIdentities/*/read",
			"Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
			"Microsoft.Authorization/*/read",
			"Microsoft.Insights/alertRules/*",
			"Microsoft.Resources/subscriptions/resourceGroups/read",
			"Microsoft.Resources/deployments/*",
			"Microsoft.Support/*",
		)),

	// Compute.
	role("9980e02c-c2be-4d73-94e8-173b1dc7cf3c", "Virtual Machine Contributor",
		"Lets you manage virtual machines, but not access to them, and not the virtual network or storage account they're connected to.",
		actionsOnly(
			"Microsoft.Authorization/*/read",
			"Microsoft.Compute/availabilitySets/*",
			"Microsoft.Compute/locations/*",
			"Microsoft.Compute/virtualMachines/*",
			"Microsoft.Compute/virtualMachineScaleSets/*",
			"Microsoft.Compute/cloudServices/*",
			"Microsoft.Compute/disks/write",
			"Microsoft.Compute/disks/read",
			"Microsoft.Compute/disks/delete",
			"Microsoft.Compute/hostgroups/write",
			"Microsoft.Compute/hostgroups/hosts/write",
			"Microsoft.DevTestLab/schedules/*",
			"Microsoft.Insights/alertRules/*",
			"Microsoft.Network/applicationGateways/backendAddressPools/join/action",
			"Microsoft.Network/loadBalancers/backendAddressPools/join/action",
			"Microsoft.Network/loadBalancers/inboundNatPools/join/action",
			"Microsoft.Network/loadBalancers/inboundNatRules/join/action",
			"Microsoft.Network/loadBalancers/probes/join/action",
			"Microsoft.Network/loadBalancers/read",
			"Microsoft.Network/locations/*",
			"Microsoft.Network/networkInterfaces/*",
			"Microsoft.Network/networkSecurityGroups/join/action",
			"Microsoft.Network/networkSecurityGroups/read",
			"Microsoft.Network/publicIPAddresses/join/action",
			"Microsoft.Network/publicIPAddresses/read",
			"Microsoft.Network/virtualNetworks/read",
			"Microsoft.Network/virtualNetworks/subnets/join/action",
			"Microsoft.RecoveryServices/locations/*",
			"Microsoft.RecoveryServices/Vaults/backupFabrics/backupProtectionIntent/write",
			"Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/*/read",
			"Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/read",
			"Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/write",
			"Microsoft.RecoveryServices/Vaults/backupPolicies/read",
			"Microsoft.RecoveryServices/Vaults/backupPolicies/write",
			"Microsoft.RecoveryServices/Vaults/read",
			"Microsoft.RecoveryServices/Vaults/usages/read",
			"Microsoft.RecoveryServices/Vaults/write",
			"Microsoft.ResourceHealth/availabilityStatuses/read",
			"Microsoft.Resources/deployments/*",
			"Microsoft.Resources/subscriptions/resourceGroups/read",
			"Microsoft.SerialConsole/serialPorts/connect/action",
			"Microsoft.SqlVirtualMachine/*",
			"Microsoft.Storage/storageAccounts/listKeys/action",
			"Microsoft.Storage/storageAccounts/read",
			"Microsoft.Support/*",
		)),
	role("1c0163c0-47e6-4577-8991-ea5c82e286e4", "Virtual Machine Administrator Login",
		"View Virtual Machines in the portal and login as administrator",
		Permission{
			Actions: list(
				"Microsoft.Network/publicIPAddresses/read",
				"Microsoft.Network/virtualNetworks/read",
				"Microsoft.Network/loadBalancers/read",
				"Microsoft.Network/networkInterfaces/read",
				"Microsoft.Compute/virtualMachines/*/read",
				"Microsoft.HybridCompute/machines/*/read",
				"Microsoft.HybridConnectivity/endpoints/listCredentials/action",
			),
			DataActions: list(
				"Microsoft.Compute/virtualMachines/login/action",
				"Microsoft.Compute/virtualMachines/loginAsAdmin/action",
				"Microsoft.HybridCompute/machines/login/action",
				"Microsoft.HybridCompute/machines/loginAsAdmin/action",
			),
		}),
	role("fb879df8-f326-4884-b1cf-06f3ad86be52", "Virtual Machine User Login",
		"View Virtual Machines in the portal and login as a regular user.",
		Permission{
			Actions: list(
				"Microsoft.Network/publicIPAddresses/read",
				"Microsoft.Network/virtualNetworks/read",
				"Microsoft.Network/loadBalancers/read",
				"Microsoft.Network/networkInterfaces/read",
				"Microsoft.Compute/virtualMachines/*/read",
				"Microsoft.HybridCompute/machines/*/read",
				"Microsoft.HybridConnectivity/endpoints/listCredentials/action",
			),
			DataActions: list(
				"Microsoft.Compute/virtualMachines/login/action",
				"Microsoft.HybridCompute/machines/login/action",
			),
		}),
	role("66f75aeb-eabe-4b70-9f1e-c350c4c9ad04", "Virtual Machine Data Access Administrator (preview)",
		"Manage access to Virtual Machines by adding or removing role assignments for the Virtual Machine Administrator Login and Virtual Machine User Login roles. Includes an ABAC condition to constrain role assignments.",
		Permission{
			Actions: list(
				"Microsoft.Authorization/roleAssignments/write",
				"Microsoft.Authorization/roleAssignments/delete",
				"Microsoft.Authorization/*/read",
				"Microsoft.Resources/subscriptions/resourceGroups/read",
				"Microsoft.Resources/subscriptions/read",
				"Microsoft.Management/managementGroups/read",
				"Microsoft.Network/publicIPAddresses/read",
				"Microsoft.Network/virtualNetworks/read",
				"Microsoft.Network/loadBalancers/read",
				"Microsoft.Network/networkInterfaces/read",
				"Microsoft.Compute/virtualMachines/*/read",
				"Microsoft.HybridCompute/machines/*/read",
				"Microsoft.Resources/deployments/*",
				"Microsoft.Support/*",
			),
			Condition:        delegationCondition("1c0163c0-47e6-4577-8991-ea5c82e286e4, fb879df8-f326-4884-b1cf-06f3ad86be52"),
			ConditionVersion: "2.0",
		}),

	// Key Vault.
	role("00482a5a-887f-4fb3-b363-3b7fe8e74483", "Key Vault Administrator",
		"Perform all data plane operations on a key vault and all objects in it, including certificates, keys, and secrets. Cannot manage key vault resources or manage role assignments."+kvRBACOnly,
		Permission{Actions: join(kvCommon), DataActions: list(msKV + "*")}),
	role("21090545-7ca7-4776-b22c-e363652d74d2", "Key Vault Reader",
		"Read metadata of key vaults and its certificates, keys, and secrets. Cannot read sensitive values such as secret contents or key material."+kvRBACOnly,
		Permission{Actions: join(kvCommon), DataActions: list(msKV+"*/read", msKV+"secrets/readMetadata/action")}),
	role("4633458b-17de-408a-b874-0445c86b69e6", "Key Vault Secrets User",
		"Read secret contents."+kvRBACOnly,
		dataOnly(msKV+"secrets/getSecret/action", msKV+"secrets/readMetadata/action")),
	role("b86a8fe4-44ce-4948-aee5-eccb2c155cd7", "Key Vault Secrets Officer",
		"Perform any action on the secrets of a key vault, except manage permissions."+kvRBACOnly,
		Permission{Actions: join(kvCommon), DataActions: list(msKV + "secrets/*")}),
	role("12338af0-0e69-4776-bea7-57ae8d297424", "Key Vault Crypto User",
		"Perform cryptographic operations using keys."+kvRBACOnly,
		dataOnly(
			msKV+"keys/read",
			msKV+"keys/update/action",
			msKV+"keys/backup/action",
			msKV+"keys/encrypt/action",
			msKV+"keys/decrypt/action",
			msKV+"keys/wrap/action",
			msKV+"keys/unwrap/action",
			msKV+"keys/sign/action",
			msKV+"keys/verify/action",
		)),
	role("14b46e9e-c2b7-41b4-b07b-48a6ebf60603", "Key Vault Crypto Officer",
		"Perform any action on the keys of a key vault, except manage permissions."+kvRBACOnly,
		Permission{Actions: join(kvCommon), DataActions: list(msKV+"keys/*", msKV+"keyrotationpolicies/*")}),
	role("e147488a-f6f5-4113-8e2d-b22465e65bf6", "Key Vault Crypto Service Encryption User",
		"Read metadata of keys and perform wrap/unwrap operations."+kvRBACOnly,
		Permission{
			Actions: list(
				"Microsoft.EventGrid/eventSubscriptions/write",
				"Microsoft.EventGrid/eventSubscriptions/read",
				"Microsoft.EventGrid/eventSubscriptions/delete",
			),
			DataActions: list(msKV+"keys/read", msKV+"keys/wrap/action", msKV+"keys/unwrap/action"),
		}),
	role("08bbd89e-9f13-488c-ac41-acfcb10c90ab", "Key Vault Crypto Service Release User",
		"Release keys."+kvRBACOnly,
		dataOnly(msKV+"keys/release/action")),
	role("a4417e6f-fecd-4de8-b567-7b0420556985", "Key Vault Certificates Officer",
		"Perform any action on the certificates of a key vault, except manage permissions."+kvRBACOnly,
		Permission{
			Actions:     join(kvCommon),
			DataActions: list(msKV+"certificatecas/*", msKV+"certificates/*", msKV+"certificatecontacts/write"),
		}),
	role("db79e9a7-68ee-4b58-9aeb-b90e7c24fcba", "Key Vault Certificate User",
		"Read certificate contents."+kvRBACOnly,
		dataOnly(
			msKV+"certificates/read",
			msKV+"secrets/getSecret/action",
			msKV+"secrets/readMetadata/action",
			msKV+"keys/read",
		)),
	role("f25e0fa2-a7c8-4377-a976-54943a77a395", "Key Vault Contributor",
		"Lets you manage key vaults, but not access to them.",
		Permission{
			Actions: list(
				"Microsoft.Authorization/*/read",
				"Microsoft.Insights/alertRules/*",
				"Microsoft.KeyVault/*",
				"Microsoft.Resources/deployments/*",
				"Microsoft.Resources/subscriptions/resourceGroups/read",
				"Microsoft.Support/*",
			),
			NotActions: list(
				"Microsoft.KeyVault/locations/deletedVaults/purge/action",
				"Microsoft.KeyVault/hsmPools/*",
				"Microsoft.KeyVault/managedHsms/*",
			),
		}),
	role("8b54135c-b56d-4d72-a534-26097cfdc8d8", "Key Vault Data Access Administrator",
		"Manage access to Azure Key Vault by adding or removing role assignments for the Key Vault Administrator, Key Vault Certificates Officer, Key Vault Crypto Officer, Key Vault Crypto Service Encryption User, Key Vault Crypto User, Key Vault Reader, Key Vault Secrets Officer, or Key Vault Secrets User roles. Includes an ABAC condition to constrain role assignments.",
		Permission{
			Actions: list(
				"Microsoft.Authorization/roleAssignments/write",
				"Microsoft.Authorization/roleAssignments/delete",
				"Microsoft.Authorization/*/read",
				"Microsoft.Resources/deployments/*",
				"Microsoft.Resources/subscriptions/resourceGroups/read",
				"Microsoft.Resources/subscriptions/read",
				"Microsoft.Management/managementGroups/read",
				"Microsoft.Resources/deployments/*",
				"Microsoft.Support/*",
				"Microsoft.KeyVault/vaults/*/read",
			),
			Condition:        delegationCondition(kvDataRoleGUIDs),
			ConditionVersion: "2.0",
		}),

	// Storage accounts, blobs, queues, tables.
	role("17d1049b-9a84-46fb-8f53-869881c3d3ab", "Storage Account Contributor",
		"Lets you manage storage accounts, including accessing storage account keys which provide full access to storage account data.",
		actionsOnly(
			"Microsoft.Authorization/*/read",
			"Microsoft.Insights/alertRules/*",
			"Microsoft.Insights/diagnosticSettings/*",
			"Microsoft.Network/virtualNetworks/subnets/joinViaServiceEndpoint/action",
			"Microsoft.ResourceHealth/availabilityStatuses/read",
			"Microsoft.Resources/deployments/*",
			"Microsoft.Resources/subscriptions/resourceGroups/read",
			"Microsoft.Storage/storageAccounts/*",
			"Microsoft.Support/*",
		)),
	role("c12c1c16-33a1-487b-954d-41c89c60f349", "Reader and Data Access",
		"Lets you view everything but will not let you delete or create a storage account or contained resource. It will also allow read/write access to all data contained in a storage account via access to storage account keys.",
		actionsOnly(msStorage+"listKeys/action", msStorage+"ListAccountSas/action", msStorage+"read")),
	role("81a9662b-bebf-436f-a333-f67b29880f12", "Storage Account Key Operator Service Role",
		"Storage Account Key Operators are allowed to list and regenerate keys on Storage Accounts",
		actionsOnly(msStorage+"listkeys/action", msStorage+"regeneratekey/action")),
	role("b7e6dc6d-f1e8-4753-8033-0f276bb0955b", "Storage Blob Data Owner",
		"Allows for full access to Azure Storage blob containers and data, including assigning POSIX access control.",
		Permission{
			Actions:     list(msBlobs+"containers/*", msBlobs+"generateUserDelegationKey/action"),
			DataActions: list(msBlobs + "containers/blobs/*"),
		}),
	role("ba92f5b4-2d11-453d-a403-e96b0029c9fe", "Storage Blob Data Contributor",
		"Allows for read, write and delete access to Azure Storage blob containers and data",
		Permission{
			Actions: list(
				msBlobs+"containers/delete",
				msBlobs+"containers/read",
				msBlobs+"containers/write",
				msBlobs+"generateUserDelegationKey/action",
			),
			DataActions: list(
				msBlobs+"containers/blobs/delete",
				msBlobs+"containers/blobs/read",
				msBlobs+"containers/blobs/write",
				msBlobs+"containers/blobs/move/action",
				msBlobs+"containers/blobs/add/action",
			),
		}),
	role("2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", "Storage Blob Data Reader",
		"Allows for read access to Azure Storage blob containers and data",
		Permission{
			Actions:     list(msBlobs+"containers/read", msBlobs+"generateUserDelegationKey/action"),
			DataActions: list(msBlobs + "containers/blobs/read"),
		}),
	role("db58b8e5-c6ad-4a2a-8342-4190687cbf4a", "Storage Blob Delegator",
		"Allows for generation of a user delegation key which can be used to sign SAS tokens",
		actionsOnly(msBlobs+"generateUserDelegationKey/action")),
	role("974c5e8b-45b9-4653-ba55-5f855dd0fb88", "Storage Queue Data Contributor",
		"Allows for read, write, and delete access to Azure Storage queues and queue messages",
		Permission{
			Actions: list(msQueues+"queues/delete", msQueues+"queues/read", msQueues+"queues/write"),
			DataActions: list(
				msQueues+"queues/messages/delete",
				msQueues+"queues/messages/read",
				msQueues+"queues/messages/write",
				msQueues+"queues/messages/process/action",
			),
		}),
	role("19e7f393-937e-4f77-808e-94535e297925", "Storage Queue Data Reader",
		"Allows for read access to Azure Storage queues and queue messages",
		Permission{
			Actions:     list(msQueues + "queues/read"),
			DataActions: list(msQueues + "queues/messages/read"),
		}),
	role("8a0f0c08-91a1-4084-bc3d-661d67233fed", "Storage Queue Data Message Processor",
		"Allows for peek, receive, and delete access to Azure Storage queue messages",
		dataOnly(msQueues+"queues/messages/read", msQueues+"queues/messages/process/action")),
	role("c6a89b2d-59bc-44d0-9896-0f6e12d7b80a", "Storage Queue Data Message Sender",
		"Allows for sending of Azure Storage queue messages",
		dataOnly(msQueues+"queues/messages/add/action")),
	role("7ee386e9-84f0-448e-80a6-f185f6533131", "Storage Queue Delegator",
		"Allows for generation of a user delegation key, which can then be used to create a shared access signature for an Azure Storage queue that is signed with Entra ID credentials.",
		actionsOnly(msQueues+"generateUserDelegationKey/action")),
	role("0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3", "Storage Table Data Contributor",
		"Allows for read, write and delete access to Azure Storage tables and entities",
		Permission{
			Actions: list(msTables+"tables/read", msTables+"tables/write", msTables+"tables/delete"),
			DataActions: list(
				msTables+"tables/entities/read",
				msTables+"tables/entities/write",
				msTables+"tables/entities/delete",
				msTables+"tables/entities/add/action",
				msTables+"tables/entities/update/action",
			),
		}),
	role("76199698-9eea-4c19-bc75-cec21354c6b6", "Storage Table Data Reader",
		"Allows for read access to Azure Storage tables and entities",
		Permission{
			Actions:     list(msTables + "tables/read"),
			DataActions: list(msTables + "tables/entities/read"),
		}),
	role("4bad4d9e-2a13-4888-94bb-c8432f6f3040", "Storage Actions Blob Data Operator",
		"Used by the Storage Actions - Storage Task to list & perform operations on the Storage Account blobs",
		Permission{
			Actions: list(
				"Microsoft.Authorization/*/read",
				"Microsoft.Insights/alertRules/*",
				"Microsoft.Resources/deployments/*",
				"Microsoft.Resources/subscriptions/resourceGroups/read",
				msBlobs+"containers/read",
				msBlobs+"containers/write",
			),
			DataActions: list(
				msBlobs+"containers/blobs/read",
				msBlobs+"containers/blobs/write",
				msBlobs+"containers/blobs/delete",
				msBlobs+"containers/blobs/add/action",
				msBlobs+"containers/blobs/tags/read",
				msBlobs+"containers/blobs/tags/write",
				msBlobs+"containers/blobs/runAsSuperUser/action",
				msBlobs+"containers/blobs/immutableStorage/runAsSuperUser/action",
			),
		}),
	role("77789c21-1643-48a2-8f27-47f858540b51", "Storage Actions Task Assignment Contributor",
		"Used by the Storage Actions assigner to create a Task Assignment on their target Storage Account, with RBAC privileges for Managed Identity",
		actionsOnly(
			"Microsoft.Authorization/*/read",
			"Microsoft.Insights/alertRules/*",
			"Microsoft.Resources/deployments/*",
			"Microsoft.Resources/subscriptions/resourceGroups/read",
			msStorage+"reports/read",
			msStorage+"read",
			msBlobs+"read",
			msStorage+"storageTaskAssignments/read",
			msStorage+"storageTaskAssignments/write",
			msStorage+"storageTaskAssignments/delete",
			msStorage+"storageTaskAssignments/reports/read",
		),
		Permission{
			Actions: list("Microsoft.Authorization/roleAssignments/write", "Microsoft.Authorization/roleAssignments/delete"),
			// Azure spells this built-in's GUID without dashes.
			Condition: "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR " +
				"(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals{4bad4d9e2a13488894bbc8432f6f3040})) AND " +
				"((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR " +
				"(@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals{4bad4d9e2a13488894bbc8432f6f3040}))",
			ConditionVersion: "2.0",
		}),

	// Azure Files. RBAC scopes for shares spell the type "fileshares".
	role("aba4ae5f-2193-4029-9191-0cb91df5e314", "Storage File Data SMB Share Reader",
		"Allows for read access to Azure File Share over SMB",
		dataOnly(msShares+"read")),
	role("0c867c2a-1d8c-454a-a3db-ab2ea1bdc8bb", "Storage File Data SMB Share Contributor",
		"Allows for read, write, and delete access in Azure Storage file shares over SMB",
		dataOnly(msShares+"read", msShares+"write", msShares+"delete")),
	role("a7264617-510b-434b-a828-9731dc254ea7", "Storage File Data SMB Share Elevated Contributor",
		"Allows for read, write, delete and modify NTFS permission access in Azure Storage file shares over SMB",
		dataOnly(msShares+"read", msShares+"write", msShares+"delete", msShares+"modifypermissions/action")),
	role("b8eda974-7b85-4f76-af95-65846b26df6d", "Storage File Data Privileged Reader",
		"Customer has read access on Azure Storage file shares.",
		dataOnly(msShares+"read", msFiles+"readFileBackupSemantics/action")),
	role("69566ab7-960f-475b-8e7c-b3118f30c6bd", "Storage File Data Privileged Contributor",
		"Customer has read, write, delete and modify NTFS permission access on Azure Storage file shares.",
		dataOnly(
			msShares+"read",
			msShares+"write",
			msShares+"delete",
			msShares+"modifypermissions/action",
			msFiles+"readFileBackupSemantics/action",
			msFiles+"writeFileBackupSemantics/action",
		)),
	role("bbf004e3-0e4b-4f86-ae4f-1f8fb47b357b", "Storage File Data SMB Admin",
		"Allows for admin access equivalent to storage account key for end users over SMB.",
		dataOnly(
			msShares+"read",
			msShares+"write",
			msShares+"delete",
			msShares+"modifypermissions/action",
			msFiles+"readFileBackupSemantics/action",
			msFiles+"writeFileBackupSemantics/action",
			msFiles+"takeOwnership/action",
		)),
	role("a235d3ee-5935-4cfb-8cc5-a3303ad5995e", "Storage File Data SMB MI Admin",
		"Allows for admin-level access for managed identities on files/directories in Azure file shares.",
		dataOnly(
			msFiles+"readFileBackupSemantics/action",
			msFiles+"writeFileBackupSemantics/action",
			msFiles+"takeOwnership/action",
			msFiles+"runAsBuiltInFileAdministrator/action",
			msShares+"read",
			msShares+"write",
			msShares+"delete",
			msShares+"modifypermissions/action",
		)),
	role("5d9bac3f-34b2-432f-bde5-78aa8e73ce6b", "Storage File Data SMB Take Ownership",
		"Allows end user to assume ownership of a file/directory",
		dataOnly(msFiles+"takeOwnership/action")),
	role("765a04e0-5de8-4bb2-9bf6-b2a30bc03e91", "Storage File Delegator",
		"Allows for generation of a user delegation key, which can then be used to create a shared access signature for a file or Azure file share that is signed with Entra ID credentials.",
		actionsOnly(msFiles+"generateUserDelegationKey/action")),

	// Azure File Sync.
	role("92b92042-07d9-4307-87f7-36a593fc5850", "Azure File Sync Administrator",
		"Provides full access to manage all Azure File Sync (Storage Sync Service) resources.",
		Permission{
			Actions: list(
				"Microsoft.StorageSync/register/action",
				"Microsoft.StorageSync/unregister/action",
				"Microsoft.StorageSync/locations/*",
				"Microsoft.StorageSync/deployments/preflight/action",
				"Microsoft.StorageSync/storageSyncServices/*",
				"Microsoft.StorageSync/operations/read",
				"Microsoft.Authorization/roleAssignments/write",
				"Microsoft.Insights/AlertRules/*",
				"Microsoft.Resources/deployments/*",
				"Microsoft.Resources/subscriptions/resourceGroups/read",
				"Microsoft.Storage/storageAccounts/read",
				"Microsoft.Storage/storageAccounts/fileServices/shares/read",
				"Microsoft.Storage/storageAccounts/fileServices/read",
				"Microsoft.Support/*",
				"Microsoft.Authorization/*/read",
			),
			Condition:        fileSyncAdminCondition,
			ConditionVersion: "2.0",
		}),
	role("754c1a27-40dc-4708-8ad4-2bffdeee09e8", "Azure File Sync Reader",
		"Provides read access to Azure File Sync service (Storage Sync Service).",
		actionsOnly("Microsoft.StorageSync/*/read")),
}

var (
	builtinByGUID map[string]int // lowercase GUID -> index into builtinCatalog
	builtinByName map[string]int // lowercase role name -> index
	builtinSorted []int          // indexes sorted by RoleName
)

func init() {
	builtinByGUID = make(map[string]int, len(builtinCatalog))
	builtinByName = make(map[string]int, len(builtinCatalog))
	builtinSorted = make([]int, len(builtinCatalog))
	for i, r := range builtinCatalog {
		builtinByGUID[strings.ToLower(r.Name)] = i
		builtinByName[strings.ToLower(r.RoleName)] = i
		builtinSorted[i] = i
	}
	sort.Slice(builtinSorted, func(a, b int) bool {
		return builtinCatalog[builtinSorted[a]].RoleName < builtinCatalog[builtinSorted[b]].RoleName
	})
}

// BuiltInRoles returns copies of every built-in role, sorted by RoleName.
func BuiltInRoles() []RoleDefinition {
	out := make([]RoleDefinition, len(builtinSorted))
	for i, j := range builtinSorted {
		out[i] = builtinCatalog[j].Clone()
	}
	return out
}

// BuiltInRole returns a copy of the built-in role with the given GUID (case-insensitive; a
// full role definition ID is also accepted). It has the signature NewIndex expects of
// lookupRole, so an Index over built-ins only is NewIndex(assignments, BuiltInRole).
func BuiltInRole(guid string) (RoleDefinition, bool) {
	i, ok := builtinByGUID[RoleDefinitionGUID(guid)]
	if !ok {
		return RoleDefinition{}, false
	}
	return builtinCatalog[i].Clone(), true
}

// BuiltInRoleByName returns a copy of the built-in role with the given name, compared
// case-insensitively ("key vault secrets user").
func BuiltInRoleByName(roleName string) (RoleDefinition, bool) {
	i, ok := builtinByName[strings.ToLower(strings.TrimSpace(roleName))]
	if !ok {
		return RoleDefinition{}, false
	}
	return builtinCatalog[i].Clone(), true
}
