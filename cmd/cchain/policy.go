package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/config"
)

// Roles, each allowed the commands of the roles before it.
const (
	roleReader = "reader"
	roleWriter = "writer"
	roleAdmin  = "admin"
)

var roles = []string{roleReader, roleWriter, roleAdmin}

// roleCommands are the commands each role adds to the one before it, on its
// services. internal/integration derives the actions they send from the
// servers' request logs, and TestPolicyActions checks that each role's
// policy allows exactly those.
var roleCommands = map[string][]string{
	roleReader: {"get", "history", "list SERVICE", "export", "env", "exec", "render", "diff"},
	roleWriter: {"put", "delete", "undelete", "rollback", "import", "cp (into the service)"},
	roleAdmin:  {"delete --purge", "rotate", "upgrade"},
}

// dynamoActions and kmsActions are what each role's commands send, on the
// rows whose partition key is one of the services and under the encryption
// context of one of them:
//   - reading a secret is one BatchGetItem (the secret and its service's key
//     ring), a whole service one Query, and the key ring's unwrap one
//     kms:Decrypt;
//   - a put reads as above and writes with PutItem; the first put into a
//     service also makes its key with kms:GenerateDataKey and checks the
//     partition for legacy records with a Query; a write whose answer was
//     lost is checked with GetItem;
//   - purging deletes items (DeleteItem), which can also delete the key
//     ring: only admins may.
var (
	dynamoActions = map[string][]string{
		roleReader: {"dynamodb:BatchGetItem", "dynamodb:Query"},
		roleWriter: {"dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"},
		roleAdmin:  {"dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"},
	}
	kmsActions = map[string][]string{
		roleReader: {"kms:Decrypt"},
		roleWriter: {"kms:Decrypt", "kms:GenerateDataKey"},
		roleAdmin:  {"kms:Decrypt", "kms:GenerateDataKey"},
	}
)

// Placeholders for what the configuration does not say.
const (
	placeholderRegion  = "REGION"
	placeholderAccount = "ACCOUNT"
	placeholderKey     = "arn:aws:kms:REGION:ACCOUNT:key/KEY_ID"
)

type policyOptions struct {
	role     string
	account  string
	services []string
}

// iamPolicy is an IAM policy document.
type iamPolicy struct {
	Version   string         `json:"Version"`
	Statement []iamStatement `json:"Statement"`
}

type iamStatement struct {
	Sid       string                         `json:"Sid"`
	Effect    string                         `json:"Effect"`
	Action    []string                       `json:"Action"`
	Resource  any                            `json:"Resource"`
	Condition map[string]map[string][]string `json:"Condition"`
}

func (a *app) newPolicyCommand() *cobra.Command {
	var o policyOptions
	cmd := &cobra.Command{
		Use:   "policy --role reader|writer|admin SERVICE...",
		Short: "Print a least-privilege IAM policy for some services",
		Long: `Print an IAM policy that grants one role on the given services and nothing
else: the DynamoDB actions the role's commands send, on the rows whose
partition key (Service) is one of the services (dynamodb:LeadingKeys), and
the KMS actions, under the encryption context of one of the services
(kms:EncryptionContext:service).

  reader  get, history, list SERVICE, export, env, exec, render, diff
  writer  the reader's commands, and put, delete, undelete, rollback, import, cp
  admin   the writer's commands, and delete --purge, rotate, upgrade

The table, region and KMS key come from the configuration; what it does not
name is left as REGION, ACCOUNT or KEY_ID for you to fill in. Listing every
service (cchain list) needs dynamodb:Scan on the whole table, and setup needs
table and key administration: no per-service policy grants those. Reading
records still in the Python tool's format needs a further statement (see the
README).`,
		Example: `  cchain policy --role reader db
  cchain policy --role writer db api --account 123456789012 > writer.json`,
		Args: rangeArgs(1, 1000),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.services = args
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			p, err := buildPolicy(cfg, o)
			if err != nil {
				return err
			}
			return printJSON(a.stdout, p)
		},
	}
	cmd.Flags().StringVar(&o.role, "role", "", "`role`: reader, writer or admin")
	cmd.Flags().StringVar(&o.account, "account", "", "AWS `account` id in the table's ARN (default: the KMS key ARN's, else ACCOUNT)")
	return cmd
}

// buildPolicy makes the policy for o's role and services.
func buildPolicy(cfg *config.Config, o policyOptions) (*iamPolicy, error) {
	if !slices.Contains(roles, o.role) {
		return nil, usagef("give --role reader, writer or admin")
	}
	services := slices.Clone(o.services)
	for _, s := range services {
		if err := cloudchain.ValidateService(s); err != nil {
			return nil, err
		}
	}
	slices.Sort(services)
	services = slices.Compact(services)

	key := placeholderKey
	if isKeyARN(cfg.KMSKey) {
		key = cfg.KMSKey
	}
	region, account := placeholderRegion, placeholderAccount
	if cfg.Region != "" {
		region = cfg.Region
	}
	if parts := strings.Split(key, ":"); key != placeholderKey && len(parts) >= 5 {
		account = parts[4]
	}
	if o.account != "" {
		account = o.account
	}
	table := fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", region, account, cfg.Table)
	decryptKeys := []string{key}
	for _, k := range cfg.DecryptKeys {
		if isKeyARN(k) && !slices.Contains(decryptKeys, k) {
			decryptKeys = append(decryptKeys, k)
		}
	}
	onServices := map[string]map[string][]string{"StringEquals": {"kms:EncryptionContext:service": services}}
	p := &iamPolicy{Version: "2012-10-17", Statement: []iamStatement{{
		Sid:       "CloudchainRows",
		Effect:    "Allow",
		Action:    dynamoActions[o.role],
		Resource:  table,
		Condition: map[string]map[string][]string{"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": services}},
	}, {
		Sid:       "CloudchainUnwrapServiceKeys",
		Effect:    "Allow",
		Action:    []string{"kms:Decrypt"},
		Resource:  oneOrMany(decryptKeys),
		Condition: onServices,
	}}}
	if slices.Contains(kmsActions[o.role], "kms:GenerateDataKey") {
		p.Statement = append(p.Statement, iamStatement{
			Sid:       "CloudchainNewServiceKeys",
			Effect:    "Allow",
			Action:    []string{"kms:GenerateDataKey"},
			Resource:  key,
			Condition: onServices,
		})
	}
	return p, nil
}

// isKeyARN reports whether k is the ARN of a KMS key (not an alias, whose
// ARN IAM does not match against the key a request uses).
func isKeyARN(k string) bool {
	return strings.HasPrefix(k, "arn:aws") && strings.Contains(k, ":key/")
}

func oneOrMany(s []string) any {
	if len(s) == 1 {
		return s[0]
	}
	return s
}

// policyActions returns every action p allows, sorted.
func policyActions(p *iamPolicy) []string {
	var out []string
	for _, st := range p.Statement {
		out = append(out, st.Action...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
