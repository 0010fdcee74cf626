package config

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/cloudchain/cloudchain/backend/bolt"
	"github.com/cloudchain/cloudchain/keys/local"
)

// StatusTimeout bounds each check of Status.
const StatusTimeout = 3 * time.Second

// Status says where the configuration keeps secrets and whether that store
// can be reached. Status never creates or changes anything.
type Status struct {
	// Store is Describe's one-line description.
	Store string `json:"store"`
	// Reachable says whether every check passed.
	Reachable bool `json:"reachable"`
	// Checks are the checks made, in order.
	Checks []StatusCheck `json:"checks"`
}

// A StatusCheck is one thing Status looked at.
type StatusCheck struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Detail says what was found, or why the check failed.
	Detail string `json:"detail"`
}

// Status checks the store the configuration describes, read-only: for the
// embedded store, that the master key and the database file exist and open;
// for DynamoDB, that the table can be described and the KMS key found. Each
// remote call is bounded by StatusTimeout.
func (c *Config) Status(ctx context.Context) *Status {
	st := &Status{Store: c.Describe()}
	add := func(name string, err error, ok string) {
		chk := StatusCheck{Name: name, OK: err == nil, Detail: ok}
		if err != nil {
			chk.Detail = oneLine(err)
		}
		st.Checks = append(st.Checks, chk)
	}
	switch c.Backend {
	case BackendLocal:
		p, err := local.Load(c.LocalKeyPath())
		switch {
		case errors.Is(err, fs.ErrNotExist):
			add("master key", fmt.Errorf("%s does not exist (the first put or `cchain setup` creates it)", c.LocalKeyPath()), "")
		case err != nil:
			add("master key", err, "")
		default:
			add("master key", nil, fmt.Sprintf("%s (key %s)", c.LocalKeyPath(), p.KeyID()))
			_ = p.Close()
		}
		if next, err := local.LoadNext(c.LocalKeyPath()); err != nil {
			add("key move", err, "")
		} else if next != nil {
			add("key move", nil, fmt.Sprintf("a move to the new master key %s (%s) is under way: run `cchain rotate --new-master-key` to finish it", next.KeyID(), local.NextPath(c.LocalKeyPath())))
			_ = next.Close()
		}
		if retired, err := local.LoadRetired(c.LocalKeyPath()); err != nil {
			add("retired keys", err, "")
		} else if len(retired) > 0 {
			ids := make([]string, len(retired))
			for i, r := range retired {
				ids[i] = r.KeyID()
				_ = r.Close()
			}
			add("retired keys", nil, fmt.Sprintf("%d kept for records of earlier releases (%s); see `cchain rotate --new-master-key`", len(ids), strings.Join(ids, ", ")))
		}
		if _, err := os.Stat(c.LocalStorePath()); errors.Is(err, fs.ErrNotExist) {
			add("store", fmt.Errorf("%s does not exist (the first put or `cchain setup` creates it)", c.LocalStorePath()), "")
			break
		}
		b, err := bolt.Open(c.LocalStorePath(), bolt.WithTimeout(min(c.LockTimeout, StatusTimeout)))
		if err == nil {
			n := 0
			err = b.Services(ctx, func(string) error { n++; return nil })
			if err == nil {
				add("store", nil, fmt.Sprintf("%s (%d services)", c.LocalStorePath(), n))
				break
			}
		}
		add("store", err, "")
	case BackendDynamoDB:
		clients, err := c.awsClients(ctx)
		if err != nil {
			add("credentials", err, "")
			break
		}
		add("credentials", nil, "found")
		tctx, cancel := context.WithTimeout(ctx, StatusTimeout)
		out, err := clients.dynamo.DescribeTable(tctx, &ddb.DescribeTableInput{TableName: aws.String(c.Table)})
		cancel()
		if err == nil {
			add("table", nil, fmt.Sprintf("%s is %s", c.Table, out.Table.TableStatus))
		} else {
			add("table", err, "")
		}
		tctx, cancel = context.WithTimeout(ctx, StatusTimeout)
		kout, err := clients.kms.DescribeKey(tctx, &kms.DescribeKeyInput{KeyId: aws.String(c.KMSKey)})
		cancel()
		if err == nil {
			add("kms key", nil, fmt.Sprintf("%s is %s", aws.ToString(kout.KeyMetadata.Arn), kout.KeyMetadata.KeyState))
		} else {
			add("kms key", err, "")
		}
	default:
		add("backend", fmt.Errorf("%w: unknown backend %q", ErrConfig, c.Backend), "")
	}
	if c.HighWaterMark != "" {
		add("high-water mark", nil, c.HighWaterMark)
	}
	st.Reachable = len(st.Checks) > 0
	for _, chk := range st.Checks {
		st.Reachable = st.Reachable && chk.OK
	}
	return st
}
