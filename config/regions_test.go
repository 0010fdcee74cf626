package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestKMSRegionPrecedence: a setting that names where the KMS key lives
// beats one that names the region of everything, as credstash's
// --kms-region beats -r and AWS_DEFAULT_REGION.
func TestKMSRegionPrecedence(t *testing.T) {
	cases := []struct {
		name       string
		file       string
		env        map[string]string
		over       Overrides
		region     string
		kmsRegion  string
		errPart    string
		kmsDefault bool
	}{
		{name: "file region for both", region: "eu-west-1", kmsRegion: "eu-west-1"},
		{name: "[kms] region_name", file: "[kms]\nregion_name = ap-south-1\n", region: "eu-west-1", kmsRegion: "ap-south-1"},
		{name: "[IAMKMS] region", file: "[IAMKMS]\nregion = ap-south-1\n", region: "eu-west-1", kmsRegion: "ap-south-1"},
		{name: "both, agreeing", file: "[IAMKMS]\nregion = ap-south-1\n[kms]\nregion_name = ap-south-1\n", region: "eu-west-1", kmsRegion: "ap-south-1"},
		{name: "both, disagreeing", file: "[IAMKMS]\nregion = ap-south-1\n[kms]\nregion_name = us-east-2\n", errPart: "disagree"},
		{name: "bad region", file: "[IAMKMS]\nregion = Not A Region\n", errPart: "not a region name"},
		{name: "AWS_REGION moves both without a KMS region", env: map[string]string{"AWS_REGION": "us-west-2"}, region: "us-west-2", kmsRegion: "us-west-2"},
		{name: "AWS_REGION does not move an explicit KMS region", file: "[IAMKMS]\nregion = ap-south-1\n", env: map[string]string{"AWS_REGION": "us-west-2"}, region: "us-west-2", kmsRegion: "ap-south-1"},
		{name: "--region does not move an explicit KMS region", file: "[kms]\nregion_name = ap-south-1\n", over: Overrides{Region: "ca-central-1"}, region: "ca-central-1", kmsRegion: "ap-south-1"},
		{name: "--region moves both without a KMS region", over: Overrides{Region: "ca-central-1"}, region: "ca-central-1", kmsRegion: "ca-central-1"},
		{name: "CLOUDCHAIN_KMS_REGION beats the file", file: "[IAMKMS]\nregion = ap-south-1\n", env: map[string]string{"CLOUDCHAIN_KMS_REGION": "sa-east-1"}, region: "eu-west-1", kmsRegion: "sa-east-1"},
		{name: "Overrides.KMSRegion beats everything", file: "[IAMKMS]\nregion = ap-south-1\n", env: map[string]string{"CLOUDCHAIN_KMS_REGION": "sa-east-1"}, over: Overrides{KMSRegion: "me-south-1"}, region: "eu-west-1", kmsRegion: "me-south-1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir()
			writeFile(t, home, ".cchainrc", pythonRC+c.file)
			env := map[string]string{"HOME": home}
			for k, v := range c.env {
				env[k] = v
			}
			cfg, err := Load(lookupOf(env), c.over)
			if c.errPart != "" {
				if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.errPart) {
					t.Fatalf("err = %v, want one containing %q", err, c.errPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Region != c.region || cfg.KMSRegion != c.kmsRegion {
				t.Fatalf("regions %q, KMS %q; want %q, %q", cfg.Region, cfg.KMSRegion, c.region, c.kmsRegion)
			}
			if len(cfg.Replicas) != 0 || len(cfg.KMSReplicas) != 0 {
				t.Fatalf("replicas without replica_regions: %v %v", cfg.Replicas, cfg.KMSReplicas)
			}
		})
	}
}

const twoRegions = `[dynamo]
region_name = us-east-1
endpoint_url = http://ddb-east
tablename = t

[IAMKMS]
keyalias = alias/cloudchain

[kms]
endpoint_url = http://kms-east

[cloudchain]
replica_regions = us-west-2, eu-west-1

[region us-west-2]
endpoint_url = http://ddb-west
kms_endpoint_url = http://kms-west
`

func TestReplicaRegions(t *testing.T) {
	cases := []struct {
		name        string
		extra       string
		env         map[string]string
		over        Overrides
		region      string
		dynamoEP    string
		replicas    []Replica
		kmsRegion   string
		kmsEP       string
		kmsReplicas []Replica
		errPart     string
	}{
		{
			name: "primary and two replicas", region: "us-east-1", dynamoEP: "http://ddb-east",
			replicas:  []Replica{{"us-west-2", "http://ddb-west"}, {"eu-west-1", ""}},
			kmsRegion: "us-east-1", kmsEP: "http://kms-east",
			kmsReplicas: []Replica{{"us-west-2", "http://kms-west"}, {"eu-west-1", ""}},
		},
		{
			name: "AWS_REGION does not move the primary", env: map[string]string{"AWS_REGION": "eu-west-1"},
			region: "us-east-1", dynamoEP: "http://ddb-east",
			replicas:  []Replica{{"us-west-2", "http://ddb-west"}, {"eu-west-1", ""}},
			kmsRegion: "us-east-1", kmsEP: "http://kms-east",
			kmsReplicas: []Replica{{"us-west-2", "http://kms-west"}, {"eu-west-1", ""}},
		},
		{
			name: "--region promotes a replica", over: Overrides{Region: "us-west-2"},
			region: "us-west-2", dynamoEP: "http://ddb-west",
			replicas:  []Replica{{"us-east-1", "http://ddb-east"}, {"eu-west-1", ""}},
			kmsRegion: "us-west-2", kmsEP: "http://kms-west",
			kmsReplicas: []Replica{{"us-east-1", "http://kms-east"}, {"eu-west-1", ""}},
		},
		{
			name: "KMS in another region, tried first", extra: "[IAMKMS]\nregion = eu-west-1\n",
			region: "us-east-1", dynamoEP: "http://ddb-east",
			replicas:  []Replica{{"us-west-2", "http://ddb-west"}, {"eu-west-1", ""}},
			kmsRegion: "eu-west-1", kmsEP: "http://kms-east",
			kmsReplicas: []Replica{{"us-east-1", ""}, {"us-west-2", "http://kms-west"}},
		},
		{
			name: "env endpoint is the primary's only", env: map[string]string{"AWS_ENDPOINT_URL": "http://env"},
			region: "us-east-1", dynamoEP: "http://env",
			replicas:  []Replica{{"us-west-2", "http://ddb-west"}, {"eu-west-1", ""}},
			kmsRegion: "us-east-1", kmsEP: "http://env",
			kmsReplicas: []Replica{{"us-west-2", "http://kms-west"}, {"eu-west-1", ""}},
		},
		{name: "section for an unused region", extra: "[region ap-south-1]\nendpoint_url = http://x\n", errPart: "neither region_name nor in replica_regions"},
		{name: "unknown key in a region section", extra: "[region us-west-2]\ntablename = x\n", errPart: `unknown key "tablename" in [region us-west-2]`},
		{name: "bad replica name", extra: "[cloudchain]\nreplica_regions = us-west-2, US West\n", errPart: "not a region name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir()
			file := twoRegions
			if c.extra != "" {
				file = mergeINI(twoRegions, c.extra)
			}
			writeFile(t, home, ".cchainrc", file)
			env := map[string]string{"HOME": home}
			for k, v := range c.env {
				env[k] = v
			}
			cfg, err := Load(lookupOf(env), c.over)
			if c.errPart != "" {
				if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.errPart) {
					t.Fatalf("err = %v, want one containing %q", err, c.errPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Region != c.region || cfg.DynamoEndpoint != c.dynamoEP || !reflect.DeepEqual(cfg.Replicas, c.replicas) {
				t.Errorf("dynamodb: %q %q %v; want %q %q %v", cfg.Region, cfg.DynamoEndpoint, cfg.Replicas, c.region, c.dynamoEP, c.replicas)
			}
			if cfg.KMSRegion != c.kmsRegion || cfg.KMSEndpoint != c.kmsEP || !reflect.DeepEqual(cfg.KMSReplicas, c.kmsReplicas) {
				t.Errorf("kms: %q %q %v; want %q %q %v", cfg.KMSRegion, cfg.KMSEndpoint, cfg.KMSReplicas, c.kmsRegion, c.kmsEP, c.kmsReplicas)
			}
			if !strings.Contains(cfg.Describe(), "primary region "+c.region+", read replicas ") {
				t.Errorf("Describe = %s", cfg.Describe())
			}
		})
	}
}

// mergeINI appends extra's keys to base's sections of the same name (or
// as new sections), since a section may not appear twice.
func mergeINI(base, extra string) string {
	sections := strings.Split(extra, "[")
	out := base
	for _, sec := range sections[1:] {
		name, body, _ := strings.Cut(sec, "]\n")
		header := "[" + name + "]\n"
		if i := strings.Index(out, header); i >= 0 {
			rest := out[i+len(header):]
			// Replace keys already set in the section.
			for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
				k, _, _ := strings.Cut(line, "=")
				lines := strings.Split(rest, "\n")
				for j, l := range lines {
					if strings.HasPrefix(l, "[") {
						break
					}
					if lk, _, ok := strings.Cut(l, "="); ok && strings.TrimSpace(lk) == strings.TrimSpace(k) {
						lines[j] = ""
					}
				}
				rest = strings.Join(lines, "\n")
			}
			out = out[:i] + header + body + rest
		} else {
			out += "\n" + header + body
		}
	}
	return out
}

func TestRegionSectionsNeedReplicas(t *testing.T) {
	home := t.TempDir()
	writeFile(t, home, ".cchainrc", pythonRC+"[region us-west-2]\nendpoint_url = http://x\n")
	if _, err := Load(lookupOf(map[string]string{"HOME": home}), Overrides{}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "no replica_regions") {
		t.Fatalf("err = %v", err)
	}
	// A shared file with replicas still lets a user pick the embedded store.
	writeFile(t, home, ".cchainrc", twoRegions)
	cfg, err := Load(lookupOf(map[string]string{"HOME": home}), Overrides{Backend: BackendLocal})
	if err != nil || len(cfg.Replicas) != 0 {
		t.Fatalf("--backend local: %v, %v", cfg, err)
	}
}
