package config

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os/user"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithy "github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/bolt"
	"github.com/cloudchain/cloudchain/backend/dynamodb"
	"github.com/cloudchain/cloudchain/keys/awskms"
	"github.com/cloudchain/cloudchain/keys/local"
)

// ErrNoRegion means no AWS region could be found for the DynamoDB backend.
var ErrNoRegion = errors.New("no AWS region configured")

// ErrNoCredentials means the AWS credential chain found no credentials.
var ErrNoCredentials = errors.New("no AWS credentials found")

// Open builds the Store the configuration describes. For the embedded default
// it creates nothing until the first write, which creates the data directory,
// the master key and the database file; a missing key next to an existing
// store is refused rather than replaced. For DynamoDB it resolves region and
// credentials through the AWS SDK's standard chain and reports a clear error
// when either is missing.
//
// When no credentials are configured in the environment or the shared
// files, the SDK's last resort is the EC2 instance metadata service. Open
// gives it at most IMDSBudget in all, silences the SDK's warnings about it,
// and then fails with an error wrapping ErrNoCredentials that says how to
// provide credentials.
//
// The author of each new version is the caller's AWS principal
// (sts:GetCallerIdentity) unless AuthorLookup is off. The author is a label,
// not a security control: the STS client makes at most two attempts, and the
// Store bounds the lookup (cloudchain.WithAuthorTimeout, 1s by default) and
// writes the version with no author and a notice to Notify when it fails.
func (c *Config) Open(ctx context.Context) (*cloudchain.Store, error) {
	opts := []cloudchain.Option{cloudchain.WithHistoryDepth(c.HistoryDepth), cloudchain.WithLegacyReads(c.LegacyReads)}
	opts = append(opts, c.watermarkOption()...)
	if c.Notify != nil {
		opts = append(opts, cloudchain.WithNotices(c.Notify))
	}
	switch c.Backend {
	case BackendLocal:
		keys := &localKeys{keyPath: c.LocalKeyPath(), storePath: c.LocalStorePath()}
		b, err := bolt.Open(c.LocalStorePath(), bolt.WithTimeout(c.LockTimeout))
		if err != nil {
			return nil, err
		}
		opts = append(opts, cloudchain.WithAuthor(localAuthor))
		return cloudchain.New(b, keys, opts...), nil
	case BackendDynamoDB:
		clients, err := c.awsClients(ctx)
		if err != nil {
			return nil, err
		}
		b, keys := c.withReplicas(clients, dynamodb.New(clients.dynamo, c.Table, dynamodb.WithRegion(c.Region)),
			awskms.New(clients.kms, c.KMSKey, awskms.WithDecryptKeys(c.DecryptKeys...)))
		if c.AuthorLookup {
			opts = append(opts, cloudchain.WithAuthor(stsAuthor(clients.sts)))
		} else {
			opts = append(opts, cloudchain.WithAuthor(localAuthor))
		}
		opts = append(opts, cloudchain.WithLegacyWrites(c.LegacyWrites))
		return cloudchain.New(b, keys, opts...), nil
	}
	return nil, fmt.Errorf("%w: unknown backend %q", ErrConfig, c.Backend)
}

// NewKMSKey returns a key provider for the KMS key keyID (an alias, key id
// or ARN), with the configured region, endpoint and credentials, for moving
// service keys to it (Store.RewrapServiceKeys). It is for the DynamoDB
// backend only.
func (c *Config) NewKMSKey(ctx context.Context, keyID string) (cloudchain.Encrypter, error) {
	if c.Backend != BackendDynamoDB {
		return nil, fmt.Errorf("%w: moving to a new KMS key needs the dynamodb backend; the embedded store uses its own master key", ErrConfig)
	}
	clients, err := c.awsClients(ctx)
	if err != nil {
		return nil, err
	}
	return awskms.New(clients.kms, keyID), nil
}

func localAuthor(context.Context) (string, error) {
	u, err := user.Current()
	if err != nil {
		return "", nil
	}
	return u.Username, nil
}

func stsAuthor(client *sts.Client) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return "", &shortError{msg: "sts:GetCallerIdentity: " + cause(err) + " (set author_lookup = false in [cloudchain] to skip it)", err: err}
		}
		return aws.ToString(out.Arn), nil
	}
}

// The retry policy of the DynamoDB and KMS clients: the SDK's standard
// retryer, pinned here so that an SDK upgrade cannot change it silently.
// Throttling (ThrottlingException, ProvisionedThroughputExceededException),
// 500, 502, 503 and 504 answers, and connection errors (resets included) are
// retried up to RetryAttempts attempts in all, waiting a random time of up to
// 2^i seconds before retry i (at most RetryMaxBackoff), that is up to 2 s and
// then up to 4 s, and never past the command's deadline (--timeout). The
// SDK's client-side retry quota (500 tokens, 5 per retry, 10 per timeout)
// only matters to long-running programs. AWS_MAX_ATTEMPTS, AWS_RETRY_MODE
// and a profile's max_attempts or retry_mode replace this policy.
//
// An attempt whose answer has not begun within AttemptTimeout is abandoned
// and retried like a reset connection, so one lost answer costs
// AttemptTimeout rather than the whole command's deadline.
const (
	RetryAttempts   = 3
	RetryMaxBackoff = 20 * time.Second
	AttemptTimeout  = 10 * time.Second
)

// Retryer returns the retryer of the DynamoDB and KMS clients (see
// RetryAttempts). Each client gets its own, with its own retry quota.
func Retryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = RetryAttempts
		o.MaxBackoff = RetryMaxBackoff
	})
}

// stsAttempts is how many times the STS client tries GetCallerIdentity.
const stsAttempts = 2

// IMDSBudget is the most time Open spends asking the EC2 instance metadata
// service for credentials, in all, when nothing else provides them.
const IMDSBudget = time.Second

const credentialsHint = "hint: set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, run `aws sso login`, or run where an instance or task role is available"

// boundIMDS replaces the SDK's instance-metadata credential provider, when
// that is what the SDK chose (no credentials in the environment or the shared
// files), by one that spends at most IMDSBudget in all and logs nothing. The
// SDK's own spends several seconds off EC2 and prints a warning about falling
// back to IMDSv1.
func boundIMDS(cfg *aws.Config) error {
	if !aws.IsCredentialsProvider(cfg.Credentials, (*ec2rolecreds.Provider)(nil)) {
		return nil
	}
	quiet := cfg.Copy()
	quiet.Logger = logging.Nop{}
	quiet.ClientLogMode = 0
	api := imds.NewFromConfig(quiet, func(o *imds.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 2
			so.MaxBackoff = 50 * time.Millisecond
		})
	})
	client := &budgetIMDS{api: api, budget: IMDSBudget}
	cfg.Credentials = aws.NewCredentialsCache(ec2rolecreds.New(func(o *ec2rolecreds.Options) { o.Client = client }))
	return nil
}

// budgetIMDS gives all the metadata requests of one credential lookup (token,
// role name, credentials, retries) one deadline, IMDS budget after the first.
type budgetIMDS struct {
	api    ec2rolecreds.GetMetadataAPIClient
	budget time.Duration

	once     sync.Once
	deadline time.Time
}

func (b *budgetIMDS) GetMetadata(ctx context.Context, in *imds.GetMetadataInput, opts ...func(*imds.Options)) (*imds.GetMetadataOutput, error) {
	b.once.Do(func() { b.deadline = time.Now().Add(b.budget) })
	ctx, cancel := context.WithDeadline(ctx, b.deadline)
	defer cancel()
	return b.api.GetMetadata(ctx, in, opts...)
}

// shortError shows a short message for err, which stays in the chain.
type shortError struct {
	msg string
	err error
}

func (e *shortError) Error() string { return e.msg }
func (e *shortError) Unwrap() error { return e.err }

// cause returns the part of an SDK error that says what went wrong, without
// the SDK's layers of operation and retry detail: the network error, the
// service's error code and message, or else the whole message.
func cause(err error) string {
	var netErr *net.OpError
	var apiErr smithy.APIError
	switch {
	case errors.As(err, &netErr):
		return netErr.Error()
	case errors.As(err, &apiErr):
		return apiErr.ErrorCode() + ": " + apiErr.ErrorMessage()
	}
	return oneLine(err)
}

type awsClients struct {
	cfg    aws.Config
	dynamo *ddb.Client
	kms    *kms.Client
	sts    *sts.Client
	// The replica regions' clients, in the order of c.Replicas and
	// c.KMSReplicas.
	dynamoReplicas []*ddb.Client
	kmsReplicas    []*kms.Client
}

func (c *Config) awsClients(ctx context.Context) (*awsClients, error) {
	var loadOpts []func(*awsconfig.LoadOptions) error
	if c.Region != "" {
		loadOpts = append(loadOpts, awsconfig.WithRegion(c.Region))
	}
	if c.Profile != "" {
		loadOpts = append(loadOpts, awsconfig.WithSharedConfigProfile(c.Profile))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("%w: set region_name in the [dynamo] section of %s, AWS_REGION, or --region", ErrNoRegion, c.fileName())
	}
	if err := boundIMDS(&cfg); err != nil {
		return nil, err
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		if aws.IsCredentialsProvider(cfg.Credentials, (*ec2rolecreds.Provider)(nil)) {
			// The SDK found no credentials anywhere and the instance
			// metadata service did not provide any: its error says only
			// how the probe failed, which is no help.
			return nil, fmt.Errorf("%w: none in the environment or the shared config and credentials files, and no instance role credentials (the EC2 metadata service, unless disabled, is given %s)\n%s", ErrNoCredentials, IMDSBudget, credentialsHint)
		}
		return nil, fmt.Errorf("%w: %v\n%s", ErrNoCredentials, oneLine(err), credentialsHint)
	}
	if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		// An answer that never comes ends the attempt, which is retried.
		cfg.HTTPClient = bc.WithTransportOptions(func(t *http.Transport) { t.ResponseHeaderTimeout = AttemptTimeout })
	}
	cl := &awsClients{cfg: cfg}
	// AWS_MAX_ATTEMPTS, AWS_RETRY_MODE or the profile's settings win.
	pinRetryer := cfg.RetryMaxAttempts == 0 && cfg.RetryMode == ""
	cl.dynamo = ddb.NewFromConfig(cfg, func(o *ddb.Options) {
		if pinRetryer {
			o.Retryer = Retryer()
		}
		if c.DynamoEndpoint != "" {
			o.BaseEndpoint = aws.String(c.DynamoEndpoint)
		}
	})
	cl.kms = kms.NewFromConfig(cfg, func(o *kms.Options) {
		if pinRetryer {
			o.Retryer = Retryer()
		}
		if c.KMSRegion != "" {
			o.Region = c.KMSRegion
		}
		if c.KMSEndpoint != "" {
			o.BaseEndpoint = aws.String(c.KMSEndpoint)
		}
	})
	c.addReplicaClients(cl, pinRetryer)
	cl.sts = sts.NewFromConfig(cfg, func(o *sts.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = stsAttempts
			so.MaxBackoff = 100 * time.Millisecond
		})
	})
	return cl, nil
}

func (c *Config) fileName() string {
	if c.File != "" {
		return c.File
	}
	return "~/.cchainrc"
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// SetupOptions tune Setup.
type SetupOptions struct {
	// CreateKey creates the KMS key and its alias (the configured KMSKey,
	// which must then be an alias) if the alias does not exist yet.
	CreateKey bool
}

// Setup creates what the configured store needs, and is idempotent: for the
// embedded default, the data directory, master key and database; for
// DynamoDB, the table (on-demand, with point-in-time recovery where the server
// supports it) and, with CreateKey, a KMS key and alias. It returns one line
// per step for the user.
func (c *Config) Setup(ctx context.Context, o SetupOptions) ([]string, error) {
	var report []string
	switch c.Backend {
	case BackendLocal:
		if o.CreateKey {
			return nil, fmt.Errorf("%w: --create-key is for KMS; the embedded store creates its own key", ErrConfig)
		}
		if _, _, err := loadOrRefuse(c.LocalKeyPath(), c.LocalStorePath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		keys, created, err := local.Create(c.LocalKeyPath())
		if err != nil {
			return nil, err
		}
		if created {
			report = append(report, fmt.Sprintf("created master key %s (%s)", c.LocalKeyPath(), keys.KeyID()))
		} else {
			report = append(report, fmt.Sprintf("master key %s exists (%s)", c.LocalKeyPath(), keys.KeyID()))
		}
		b, err := bolt.Open(c.LocalStorePath(), bolt.WithTimeout(c.LockTimeout))
		if err != nil {
			return nil, err
		}
		created, err = b.Init(ctx)
		if err != nil {
			return nil, err
		}
		if created {
			report = append(report, "created store "+c.LocalStorePath())
		} else {
			report = append(report, "store "+c.LocalStorePath()+" exists")
		}
		return report, nil
	case BackendDynamoDB:
		clients, err := c.awsClients(ctx)
		if err != nil {
			return nil, err
		}
		res, err := dynamodb.CreateTable(ctx, clients.dynamo, c.Table)
		if err != nil {
			return nil, err
		}
		if res.Created {
			report = append(report, fmt.Sprintf("created table %s (on-demand billing)", c.Table))
			report = append(report, c.noLegacyReads())
		} else {
			report = append(report, fmt.Sprintf("table %s exists with the right key schema", c.Table))
		}
		if res.Note != "" {
			report = append(report, res.Note)
		} else {
			report = append(report, "point-in-time recovery is enabled")
		}
		if res.DeletionProtection {
			report = append(report, "deletion protection is enabled")
		} else {
			report = append(report, res.DeletionNote)
		}
		var arn string
		if o.CreateKey {
			if !strings.HasPrefix(c.KMSKey, "alias/") {
				return report, fmt.Errorf("%w: --create-key needs the key to be named by an alias such as alias/cloudchain, not %q", ErrConfig, c.KMSKey)
			}
			arn, err = awskms.CreateKey(ctx, clients.kms, c.KMSKey, "cloudchain secrets")
		} else {
			// Check the key now rather than at the first put.
			arn, err = awskms.DescribeKey(ctx, clients.kms, c.KMSKey)
		}
		if err != nil {
			return report, err
		}
		report = append(report, fmt.Sprintf("KMS key %s is %s", c.KMSKey, arn))
		return report, nil
	}
	return nil, fmt.Errorf("%w: unknown backend %q", ErrConfig, c.Backend)
}
