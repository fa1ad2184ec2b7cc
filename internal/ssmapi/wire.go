package ssmapi

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/service"
)

// epoch is a timestamp as SSM's JSON responses carry it: epoch seconds with a millisecond fraction
// (1550173814.717). Fields of this type use omitzero, so unset times are left out.
type epoch time.Time

// IsZero reports whether the time is unset.
func (t epoch) IsZero() bool { return time.Time(t).IsZero() }

// MarshalJSON writes seconds and milliseconds without float rounding, trailing zeros trimmed but one
// digit kept (1582220806.0), as SSM does.
func (t epoch) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	sec, frac := ms/1000, ms%1000
	if frac < 0 { // before 1970: keep the fraction positive
		sec, frac = sec-1, frac+1000
	}
	f := strings.TrimRight(strconv.FormatInt(frac+1000, 10)[1:], "0")
	if f == "" {
		f = "0"
	}
	return []byte(strconv.FormatInt(sec, 10) + "." + f), nil
}

// isoTime formats a time as GetCommandInvocation's Execution*DateTime strings: UTC with milliseconds
// ("2019-02-14T19:26:26.439Z"); "" when unset.
func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// isoDuration formats an elapsed time as SSM's ExecutionElapsedTime, which is Java's Duration.toString
// at millisecond precision: "PT0.541S", "PT1H0.271S", "PT2M", "PT0S". Negative durations (clock skew
// between start and end) count as zero.
func isoDuration(d time.Duration) string {
	ms := d.Milliseconds()
	if ms <= 0 {
		return "PT0S"
	}
	secs, millis := ms/1000, ms%1000
	hours, minutes, s := secs/3600, secs%3600/60, secs%60
	var b strings.Builder
	b.WriteString("PT")
	if hours != 0 {
		b.WriteString(strconv.FormatInt(hours, 10) + "H")
	}
	if minutes != 0 {
		b.WriteString(strconv.FormatInt(minutes, 10) + "M")
	}
	if s == 0 && millis == 0 {
		return b.String()
	}
	b.WriteString(strconv.FormatInt(s, 10))
	if millis != 0 {
		b.WriteString("." + strings.TrimRight(strconv.FormatInt(millis+1000, 10)[1:], "0"))
	}
	b.WriteString("S")
	return b.String()
}

// Separators and markers of the agent's combined plugin output (amazon-ssm-agent iohandler.go).
const (
	outputErrorTitle      = "\n----------ERROR-------\n"
	outputTruncatedMarker = "\n---Output truncated---"
	errorTruncatedMarker  = "\n---Error truncated----"
	// rebootExitCode is the exit code with which a script asks the agent to reboot the node; the agent
	// leaves stderr out of the combined output then (runcommand-semantics.md 5.1).
	rebootExitCode = 168
)

// PluginOutput builds CommandPlugin.Output: stdout, then, if stderr is not empty, the separator
// "\n----------ERROR-------\n" and stderr, within runcmd.MaxPluginOutput (2,500) characters. When the
// whole does not fit, the long part is cut and marked ("\n---Output truncated---", "\n---Error
// truncated----"); when both are longer than half the room, each keeps half. Stderr is dropped when the
// exit code is 168. This is the agent's TruncateOutput, counted in characters instead of bytes (so that
// no character is split) and without its off-by-one cases: text that exactly fits is not cut.
func PluginOutput(stdout, stderr string, responseCode int) string {
	if responseCode == rebootExitCode {
		stderr = ""
	}
	out, errs := []rune(stdout), []rune(stderr)
	title := ""
	if len(errs) > 0 {
		title = outputErrorTitle
	}
	room := runcmd.MaxPluginOutput - len(title)
	half := room / 2
	switch {
	case len(out)+len(errs) <= room:
		return stdout + title + stderr
	case len(out) > half && len(errs) > half:
		keep := (room - len(outputTruncatedMarker) - len(errorTruncatedMarker)) / 2
		return string(out[:keep]) + outputTruncatedMarker + title + string(errs[:keep]) + errorTruncatedMarker
	case len(out) <= half:
		keep := room - len(errorTruncatedMarker) - len(out)
		return stdout + title + string(errs[:keep]) + errorTruncatedMarker
	default:
		keep := room - len(outputTruncatedMarker) - len(errs)
		return string(out[:keep]) + outputTruncatedMarker + title + stderr
	}
}

// truncateChars returns the first n characters of s.
func truncateChars(s string, n int) string {
	if len(s) <= n { // fewer bytes than n means fewer characters too
		return s
	}
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// The response shapes below follow the botocore model member by member. Members SSM always returns are
// written even when empty (empty strings, [] and {} rather than absent keys), as the recorded responses
// in the AWS CLI examples show; members SSM leaves out when unset carry omitempty/omitzero.

type targetJSON struct {
	Key    string   `json:"Key"`
	Values []string `json:"Values"`
}

type notificationConfigJSON struct {
	NotificationArn    string   `json:"NotificationArn"`
	NotificationEvents []string `json:"NotificationEvents"`
	NotificationType   string   `json:"NotificationType"`
}

// cloudWatchOutputConfigJSON is always {"", false}: runcmd does not send output to CloudWatch Logs.
type cloudWatchOutputConfigJSON struct {
	CloudWatchLogGroupName  string `json:"CloudWatchLogGroupName"`
	CloudWatchOutputEnabled bool   `json:"CloudWatchOutputEnabled"`
}

type commandJSON struct {
	CommandID              string                     `json:"CommandId"`
	DocumentName           string                     `json:"DocumentName"`
	DocumentVersion        string                     `json:"DocumentVersion"`
	Comment                string                     `json:"Comment"`
	ExpiresAfter           epoch                      `json:"ExpiresAfter,omitzero"`
	Parameters             map[string][]string        `json:"Parameters"`
	InstanceIDs            []string                   `json:"InstanceIds"`
	Targets                []targetJSON               `json:"Targets"`
	RequestedDateTime      epoch                      `json:"RequestedDateTime,omitzero"`
	Status                 string                     `json:"Status"`
	StatusDetails          string                     `json:"StatusDetails"`
	OutputS3BucketName     string                     `json:"OutputS3BucketName"`
	OutputS3KeyPrefix      string                     `json:"OutputS3KeyPrefix"`
	MaxConcurrency         string                     `json:"MaxConcurrency"`
	MaxErrors              string                     `json:"MaxErrors"`
	TargetCount            int                        `json:"TargetCount"`
	CompletedCount         int                        `json:"CompletedCount"`
	ErrorCount             int                        `json:"ErrorCount"`
	DeliveryTimedOutCount  int                        `json:"DeliveryTimedOutCount"`
	ServiceRole            string                     `json:"ServiceRole"`
	NotificationConfig     notificationConfigJSON     `json:"NotificationConfig"`
	CloudWatchOutputConfig cloudWatchOutputConfigJSON `json:"CloudWatchOutputConfig"`
	TimeoutSeconds         int                        `json:"TimeoutSeconds,omitzero"`
}

func toNotificationConfig(n runcmd.NotificationConfig) notificationConfigJSON {
	return notificationConfigJSON{
		NotificationArn:    n.NotificationArn,
		NotificationEvents: nonNil(n.NotificationEvents),
		NotificationType:   n.NotificationType,
	}
}

func toCommand(c *runcmd.Command) commandJSON {
	targets := make([]targetJSON, 0, len(c.Targets))
	for _, t := range c.Targets {
		targets = append(targets, targetJSON{Key: t.Key, Values: nonNil(t.Values)})
	}
	params := c.Parameters
	if params == nil {
		params = map[string][]string{}
	}
	return commandJSON{
		CommandID:             c.CommandID,
		DocumentName:          c.DocumentName,
		DocumentVersion:       c.DocumentVersion,
		Comment:               c.Comment,
		ExpiresAfter:          epoch(c.ExpiresAt),
		Parameters:            params,
		InstanceIDs:           nonNil(c.InstanceIDs),
		Targets:               targets,
		RequestedDateTime:     epoch(c.RequestedAt),
		Status:                string(c.Status()),
		StatusDetails:         string(c.Detail),
		OutputS3BucketName:    c.OutputS3Bucket,
		OutputS3KeyPrefix:     c.OutputS3KeyPrefix,
		MaxConcurrency:        c.MaxConcurrency,
		MaxErrors:             c.MaxErrors,
		TargetCount:           c.TargetCount,
		CompletedCount:        c.CompletedCount(),
		ErrorCount:            c.ErrorCount(),
		DeliveryTimedOutCount: c.Counts[runcmd.DetailDeliveryTimedOut],
		ServiceRole:           c.ServiceRole,
		NotificationConfig:    toNotificationConfig(c.NotificationConfig),
		TimeoutSeconds:        c.TimeoutSeconds,
	}
}

type commandPluginJSON struct {
	Name                   string `json:"Name"`
	Status                 string `json:"Status"`
	StatusDetails          string `json:"StatusDetails"`
	ResponseCode           int    `json:"ResponseCode"`
	ResponseStartDateTime  epoch  `json:"ResponseStartDateTime,omitzero"`
	ResponseFinishDateTime epoch  `json:"ResponseFinishDateTime,omitzero"`
	Output                 string `json:"Output"`
	StandardOutputURL      string `json:"StandardOutputUrl"`
	StandardErrorURL       string `json:"StandardErrorUrl"`
	OutputS3Region         string `json:"OutputS3Region"`
	OutputS3BucketName     string `json:"OutputS3BucketName"`
	OutputS3KeyPrefix      string `json:"OutputS3KeyPrefix"`
}

// pluginState returns a plugin's status and detail, deriving whichever the node left out.
func pluginState(p *runcmd.PluginResult) (runcmd.InvocationStatus, runcmd.Detail) {
	status, detail := p.Status, p.Detail
	if detail == "" {
		detail = runcmd.Detail(status)
	}
	if status == "" {
		status = detail.Status()
	}
	return status, detail
}

// pluginFinished reports whether the node has reported the plugin's final result (and so its exit code).
func pluginFinished(p *runcmd.PluginResult) bool {
	_, detail := pluginState(p)
	return detail.Valid() && detail.Terminal()
}

func toCommandPlugin(p *runcmd.PluginResult, bucket string) commandPluginJSON {
	status, detail := pluginState(p)
	code := p.ResponseCode
	if !pluginFinished(p) {
		code = -1
	}
	if p.OutputS3Bucket != "" {
		bucket = p.OutputS3Bucket
	}
	return commandPluginJSON{
		Name:                   p.Name,
		Status:                 string(status),
		StatusDetails:          string(detail),
		ResponseCode:           code,
		ResponseStartDateTime:  epoch(p.StartedAt),
		ResponseFinishDateTime: epoch(p.EndedAt),
		Output:                 PluginOutput(p.Stdout, p.Stderr, p.ResponseCode),
		StandardOutputURL:      p.StdoutURL,
		StandardErrorURL:       p.StderrURL,
		OutputS3BucketName:     bucket,
		OutputS3KeyPrefix:      p.OutputS3Prefix,
	}
}

type commandInvocationJSON struct {
	CommandID              string                     `json:"CommandId"`
	InstanceID             string                     `json:"InstanceId"`
	InstanceName           string                     `json:"InstanceName"`
	Comment                string                     `json:"Comment"`
	DocumentName           string                     `json:"DocumentName"`
	DocumentVersion        string                     `json:"DocumentVersion"`
	RequestedDateTime      epoch                      `json:"RequestedDateTime,omitzero"`
	Status                 string                     `json:"Status"`
	StatusDetails          string                     `json:"StatusDetails"`
	TraceOutput            string                     `json:"TraceOutput,omitempty"`
	StandardOutputURL      string                     `json:"StandardOutputUrl"`
	StandardErrorURL       string                     `json:"StandardErrorUrl"`
	CommandPlugins         []commandPluginJSON        `json:"CommandPlugins"`
	ServiceRole            string                     `json:"ServiceRole"`
	NotificationConfig     notificationConfigJSON     `json:"NotificationConfig"`
	CloudWatchOutputConfig cloudWatchOutputConfigJSON `json:"CloudWatchOutputConfig"`
}

func toCommandInvocation(v service.InvocationView, details bool) commandInvocationJSON {
	inv := v.Invocation
	if inv == nil {
		inv = &runcmd.Invocation{}
	}
	out := commandInvocationJSON{
		CommandID:          inv.CommandID,
		InstanceID:         inv.InstanceID,
		InstanceName:       inv.InstanceName,
		Comment:            inv.Comment,
		DocumentName:       inv.DocumentName,
		DocumentVersion:    v.DocumentVersion,
		RequestedDateTime:  epoch(inv.RequestedAt),
		Status:             string(inv.Status()),
		StatusDetails:      string(inv.Detail),
		TraceOutput:        truncateChars(inv.Result.TraceOutput, runcmd.MaxTraceOutput),
		CommandPlugins:     []commandPluginJSON{},
		ServiceRole:        v.ServiceRole,
		NotificationConfig: toNotificationConfig(v.NotificationConfig),
	}
	// SSM fills the invocation's URLs only when the command has a single plugin.
	if ps := inv.Result.Plugins; len(ps) == 1 {
		out.StandardOutputURL, out.StandardErrorURL = ps[0].StdoutURL, ps[0].StderrURL
	}
	if details {
		for i := range inv.Result.Plugins {
			out.CommandPlugins = append(out.CommandPlugins, toCommandPlugin(&inv.Result.Plugins[i], v.OutputS3Bucket))
		}
	}
	return out
}

type instanceInformationJSON struct {
	InstanceID       string `json:"InstanceId"`
	PingStatus       string `json:"PingStatus"`
	LastPingDateTime epoch  `json:"LastPingDateTime,omitzero"`
	AgentVersion     string `json:"AgentVersion,omitempty"`
	PlatformType     string `json:"PlatformType,omitempty"`
	PlatformName     string `json:"PlatformName,omitempty"`
	PlatformVersion  string `json:"PlatformVersion,omitempty"`
	RegistrationDate epoch  `json:"RegistrationDate,omitzero"`
	ResourceType     string `json:"ResourceType,omitempty"`
	Name             string `json:"Name,omitempty"`
	IPAddress        string `json:"IPAddress,omitempty"`
	ComputerName     string `json:"ComputerName,omitempty"`
	SourceID         string `json:"SourceId,omitempty"`
	SourceType       string `json:"SourceType,omitempty"`
	ActivationID     string `json:"ActivationId,omitempty"`
	IamRole          string `json:"IamRole,omitempty"`
}

func toInstanceInformation(v service.InstanceView) instanceInformationJSON {
	i := v.Instance
	if i == nil {
		i = &runcmd.Instance{}
	}
	out := instanceInformationJSON{
		InstanceID:       i.InstanceID,
		PingStatus:       v.PingStatus,
		LastPingDateTime: epoch(i.LastPingAt),
		AgentVersion:     i.AgentVersion,
		PlatformType:     i.PlatformType,
		PlatformName:     i.PlatformName,
		PlatformVersion:  i.PlatformVersion,
		RegistrationDate: epoch(i.RegisteredAt),
		ResourceType:     i.ResourceType,
		Name:             i.Name,
		IPAddress:        i.IPAddress,
		ComputerName:     i.ComputerName,
		ActivationID:     i.ActivationID,
		IamRole:          i.IamRole,
	}
	if i.ResourceType == runcmd.ResourceTypeManagedInstance {
		// SSM names a hybrid node's source after the node itself.
		out.SourceID, out.SourceType = i.InstanceID, "AWS::SSM::ManagedInstance"
	}
	return out
}

type tagJSON struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

func toTags(m map[string]string) []tagJSON {
	out := make([]tagJSON, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, tagJSON{Key: k, Value: m[k]})
	}
	return out
}

type documentIdentifierJSON struct {
	Name            string    `json:"Name"`
	CreatedDate     epoch     `json:"CreatedDate,omitzero"`
	DisplayName     string    `json:"DisplayName,omitempty"`
	Owner           string    `json:"Owner"`
	VersionName     string    `json:"VersionName,omitempty"`
	PlatformTypes   []string  `json:"PlatformTypes"`
	DocumentVersion string    `json:"DocumentVersion"`
	DocumentType    string    `json:"DocumentType"`
	SchemaVersion   string    `json:"SchemaVersion"`
	DocumentFormat  string    `json:"DocumentFormat"`
	TargetType      string    `json:"TargetType,omitempty"`
	Tags            []tagJSON `json:"Tags"`
}

func toDocumentIdentifier(d service.DocumentDescription) documentIdentifierJSON {
	return documentIdentifierJSON{
		Name:            d.Name,
		CreatedDate:     epoch(d.CreatedDate),
		DisplayName:     d.DisplayName,
		Owner:           d.Owner,
		VersionName:     d.VersionName,
		PlatformTypes:   nonNil(d.PlatformTypes),
		DocumentVersion: d.DocumentVersion,
		DocumentType:    d.DocumentType,
		SchemaVersion:   d.SchemaVersion,
		DocumentFormat:  d.DocumentFormat,
		TargetType:      d.TargetType,
		Tags:            toTags(d.Tags),
	}
}

type documentParameterJSON struct {
	Name         string `json:"Name"`
	Type         string `json:"Type"`
	Description  string `json:"Description"`
	DefaultValue string `json:"DefaultValue"`
}

type documentDescriptionJSON struct {
	Hash            string                  `json:"Hash"`
	HashType        string                  `json:"HashType"`
	Name            string                  `json:"Name"`
	DisplayName     string                  `json:"DisplayName,omitempty"`
	VersionName     string                  `json:"VersionName,omitempty"`
	Owner           string                  `json:"Owner"`
	CreatedDate     epoch                   `json:"CreatedDate,omitzero"`
	Status          string                  `json:"Status"`
	DocumentVersion string                  `json:"DocumentVersion"`
	Description     string                  `json:"Description"`
	Parameters      []documentParameterJSON `json:"Parameters"`
	PlatformTypes   []string                `json:"PlatformTypes"`
	DocumentType    string                  `json:"DocumentType"`
	SchemaVersion   string                  `json:"SchemaVersion"`
	LatestVersion   string                  `json:"LatestVersion"`
	DefaultVersion  string                  `json:"DefaultVersion"`
	DocumentFormat  string                  `json:"DocumentFormat"`
	TargetType      string                  `json:"TargetType,omitempty"`
	Tags            []tagJSON               `json:"Tags"`
}

func toDocumentDescription(d service.DocumentDescription) documentDescriptionJSON {
	params := make([]documentParameterJSON, 0, len(d.Parameters))
	for _, p := range d.Parameters {
		params = append(params, documentParameterJSON(p))
	}
	return documentDescriptionJSON{
		Hash:            d.Hash,
		HashType:        d.HashType,
		Name:            d.Name,
		DisplayName:     d.DisplayName,
		VersionName:     d.VersionName,
		Owner:           d.Owner,
		CreatedDate:     epoch(d.CreatedDate),
		Status:          d.Status,
		DocumentVersion: d.DocumentVersion,
		Description:     d.Description,
		Parameters:      params,
		PlatformTypes:   nonNil(d.PlatformTypes),
		DocumentType:    d.DocumentType,
		SchemaVersion:   d.SchemaVersion,
		LatestVersion:   d.LatestVersion,
		DefaultVersion:  d.DefaultVersion,
		DocumentFormat:  d.DocumentFormat,
		TargetType:      d.TargetType,
		Tags:            toTags(d.Tags),
	}
}

// nonNil returns s, or an empty slice for nil, so that it encodes as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
