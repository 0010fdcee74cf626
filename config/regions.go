package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"gopkg.in/ini.v1"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/dynamodb"
	"github.com/cloudchain/cloudchain/failover"
	"github.com/cloudchain/cloudchain/keys/awskms"
)

// A Replica is a region that reads move to when the ones before it do not
// answer, with its endpoint ("" for the region's standard AWS endpoint).
type Replica struct {
	Region   string
	Endpoint string
}

// regionSection is the prefix of the sections that set a region's
// endpoints: [region us-west-2].
const regionSection = "region "

// regionKeys are the keys of a [region NAME] section.
var regionKeys = []string{"endpoint_url", "kms_endpoint_url"}

// resolveRegions sets the regions and endpoints of c.
//
// The DynamoDB region is --region, then AWS_REGION or AWS_DEFAULT_REGION,
// then [dynamo] region_name, except with replica_regions: the file's
// region_name then beats the environment, because it names the table's
// primary region, where writes go, and AWS_REGION is often set by the
// place a program runs (Lambda, ECS) rather than by the user. --region
// still wins: it is how a user deliberately makes another region the
// primary.
//
// The KMS region is CLOUDCHAIN_KMS_REGION, then the file's [IAMKMS] region
// (credstash's --kms-region) or [kms] region_name, then the DynamoDB
// region: a setting that names where the key lives beats one that names
// the region of everything, as credstash's --kms-region beats -r.
func (c *Config) resolveRegions(o Overrides, get func(string) string, f *ini.File) error {
	val := func(section, key string) string {
		if f == nil || !f.HasSection(section) {
			return ""
		}
		return strings.TrimSpace(f.Section(section).Key(key).String())
	}
	envRegion := first(get("AWS_REGION"), get("AWS_DEFAULT_REGION"))
	fileRegion := val("dynamo", "region_name")
	replicas, err := parseRegions("replica_regions", val("cloudchain", "replica_regions"))
	if err != nil {
		return err
	}
	kmsFile, err := fileKMSRegion(val)
	if err != nil {
		return err
	}
	// Checked even when unused: CLOUDCHAIN_REGION_STATE may be set for a
	// whole fleet, and a bad value should not wait for replica_regions.
	regionState, err := resolveRegionState(get, setting{"CLOUDCHAIN_REGION_STATE", get("CLOUDCHAIN_REGION_STATE")},
		setting{c.File + ": region_state", val("cloudchain", "region_state")})
	if err != nil {
		return err
	}
	dynamoEnv := first(get("AWS_ENDPOINT_URL_DYNAMODB"), get("AWS_ENDPOINT_URL"))
	kmsEnv := first(get("AWS_ENDPOINT_URL_KMS"), get("AWS_ENDPOINT_URL"))
	if len(replicas) == 0 || c.Backend != BackendDynamoDB {
		if len(replicas) == 0 {
			if err := noRegionSections(f); err != nil {
				return err
			}
		}
		c.Region = first(o.Region, envRegion, fileRegion)
		c.KMSRegion = first(o.KMSRegion, get("CLOUDCHAIN_KMS_REGION"), kmsFile, c.Region)
		c.DynamoEndpoint = first(o.DynamoEndpoint, dynamoEnv, val("dynamo", "endpoint_url"))
		c.KMSEndpoint = first(o.KMSEndpoint, kmsEnv, val("kms", "endpoint_url"))
		return nil
	}

	// The primary, where every write goes, comes from the file (or
	// --region), never from AWS_REGION: programs in two regions would
	// otherwise each write to their own, and the global table's "last
	// writer wins" could undo an update.
	c.Region = first(o.Region, fileRegion)
	if c.Region == "" {
		return fmt.Errorf("%w: replica_regions needs a primary region: set region_name in [dynamo] (AWS_REGION is not used for it: it names where a program runs, not where the table's writes go)", ErrConfig)
	}
	c.KMSRegion = first(o.KMSRegion, get("CLOUDCHAIN_KMS_REGION"), kmsFile, c.Region)
	tableRegions := unique(append([]string{c.Region, fileRegion}, replicas...))
	keyRegions := unique(append([]string{c.KMSRegion}, tableRegions...))
	kmsHome := first(kmsFile, fileRegion)
	dynamoEP := func(r string) string {
		if ep := val(regionSection+r, "endpoint_url"); ep != "" || r != first(fileRegion, c.Region) {
			return ep
		}
		return val("dynamo", "endpoint_url")
	}
	kmsEP := func(r string) string {
		if ep := val(regionSection+r, "kms_endpoint_url"); ep != "" || r != first(kmsHome, c.KMSRegion) {
			return ep
		}
		return val("kms", "endpoint_url")
	}
	c.DynamoEndpoint = first(o.DynamoEndpoint, dynamoEnv, dynamoEP(c.Region))
	c.KMSEndpoint = first(o.KMSEndpoint, kmsEnv, kmsEP(c.KMSRegion))
	for _, r := range tableRegions[1:] {
		c.Replicas = append(c.Replicas, Replica{Region: r, Endpoint: dynamoEP(r)})
	}
	for _, r := range keyRegions[1:] {
		c.KMSReplicas = append(c.KMSReplicas, Replica{Region: r, Endpoint: kmsEP(r)})
	}
	c.RegionState = regionState
	// A [region NAME] section for a region that is not used is a typo.
	for _, sec := range f.Sections() {
		if name, ok := strings.CutPrefix(sec.Name(), regionSection); ok && !slices.Contains(keyRegions, strings.TrimSpace(name)) {
			return fmt.Errorf("%w: %s: section [%s] names a region that is neither region_name nor in replica_regions (%s)", ErrConfig, c.File, shownName(sec.Name()), strings.Join(tableRegions, ", "))
		}
	}
	return nil
}

// fileKMSRegion is the file's explicit KMS region: [IAMKMS] region or
// [kms] region_name, which must agree when both are set.
func fileKMSRegion(val func(section, key string) string) (string, error) {
	a, b := val("IAMKMS", "region"), val("kms", "region_name")
	if a != "" && b != "" && a != b {
		return "", fmt.Errorf("%w: [IAMKMS] region %q and [kms] region_name %q disagree; set one of them", ErrConfig, a, b)
	}
	for _, r := range []string{a, b} {
		if r != "" && !validRegion(r) {
			return "", fmt.Errorf("%w: KMS region %q is not a region name such as eu-west-1", ErrConfig, r)
		}
	}
	return first(a, b), nil
}

// noRegionSections refuses [region NAME] sections when there is nothing
// for them to configure, since they would be silently ignored.
func noRegionSections(f *ini.File) error {
	if f == nil {
		return nil
	}
	for _, sec := range f.Sections() {
		if strings.HasPrefix(sec.Name(), regionSection) {
			return fmt.Errorf("%w: section [%s] sets a replica region's endpoints, but no replica_regions are configured for the dynamodb backend", ErrConfig, shownName(sec.Name()))
		}
	}
	return nil
}

func shownName(name string) string {
	if r, ok := strings.CutPrefix(name, regionSection); ok && validRegion(strings.TrimSpace(r)) {
		return name
	}
	return "(name not shown)"
}

// parseRegions parses a comma-separated list of region names.
func parseRegions(key, s string) ([]string, error) {
	var out []string
	for _, r := range strings.Split(s, ",") {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		if !validRegion(r) {
			shown := fmt.Sprintf("%q", r)
			if !showable(r) {
				shown = "(not shown)"
			}
			return nil, fmt.Errorf("%w: %s: %s is not a region name such as eu-west-1", ErrConfig, key, shown)
		}
		out = append(out, r)
	}
	return out, nil
}

// validRegion accepts AWS region names: lower-case letters, digits and
// hyphens, starting with a letter.
func validRegion(r string) bool {
	if len(r) == 0 || len(r) > 32 || r[0] < 'a' || r[0] > 'z' {
		return false
	}
	return strings.Trim(r, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
}

func unique(rs []string) []string {
	var out []string
	for _, r := range rs {
		if r != "" && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// addReplicaClients builds a DynamoDB and a KMS client for each replica
// region, from the same AWS configuration as the primary's. A replica
// without an endpoint in the file uses its region's standard endpoint, not
// AWS_ENDPOINT_URL, which names the primary's.
func (c *Config) addReplicaClients(cl *awsClients, pinRetryer bool) {
	for _, r := range c.Replicas {
		cl.dynamoReplicas = append(cl.dynamoReplicas, ddb.NewFromConfig(cl.cfg, func(o *ddb.Options) {
			if pinRetryer {
				o.Retryer = Retryer()
			}
			o.Region = r.Region
			o.BaseEndpoint = nil
			if r.Endpoint != "" {
				o.BaseEndpoint = aws.String(r.Endpoint)
			}
		}))
	}
	for _, r := range c.KMSReplicas {
		cl.kmsReplicas = append(cl.kmsReplicas, kms.NewFromConfig(cl.cfg, func(o *kms.Options) {
			if pinRetryer {
				o.Retryer = Retryer()
			}
			o.Region = r.Region
			o.BaseEndpoint = nil
			if r.Endpoint != "" {
				o.BaseEndpoint = aws.String(r.Endpoint)
			}
		}))
	}
}

// withReplicas wraps the primary's backend and key provider in failover
// ones over the replica regions, when there are any.
func (c *Config) withReplicas(cl *awsClients, b cloudchain.Backend, keys *awskms.Provider) (cloudchain.Backend, cloudchain.KeyProvider) {
	if len(c.Replicas) == 0 {
		return b, keys
	}
	opts := []failover.Option{failover.WithNotify(func(e failover.Event) {
		if c.Notify != nil {
			c.Notify(cloudchain.Notice{Kind: cloudchain.NoticeFailover, Message: e.Message()})
		}
	})}
	if path := c.RegionState; path != "" {
		opts = append(opts, failover.WithStateFile(path))
	}
	regions := []failover.Region{{Name: c.Region, Endpoint: c.DynamoEndpoint, Backend: b}}
	for i, r := range c.Replicas {
		regions = append(regions, failover.Region{Name: r.Region, Endpoint: r.Endpoint, Backend: dynamodb.New(cl.dynamoReplicas[i], c.Table, dynamodb.WithRegion(r.Region))})
	}
	keyRegions := []failover.KeyRegion{{Name: c.KMSRegion, Endpoint: c.KMSEndpoint, Provider: keys}}
	for i, r := range c.KMSReplicas {
		p := awskms.New(cl.kmsReplicas[i], c.KMSKey, awskms.WithDecryptKeys(c.DecryptKeys...), awskms.WithReplicaRegion(r.Region))
		keyRegions = append(keyRegions, failover.KeyRegion{Name: r.Region, Endpoint: r.Endpoint, Provider: p})
	}
	return failover.New(regions, opts...), failover.NewKeys(keyRegions, opts...)
}
