package bench

import (
	"fmt"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/agent/node"
)

// Prices are AWS's published us-east-1 on-demand prices as we know them from the public price pages
// (from memory, not fetched by this program; check them before quoting a bill). DynamoDB's are the
// on-demand prices after the November 2024 reduction.
const (
	PricesDate          = "2025 (published price pages, from memory)"
	priceSQSStandard    = 0.40 / 1e6   // per request (each 64 KB chunk of payload is one request)
	priceSQSFIFO        = 0.50 / 1e6   // per request
	priceDynamoWRU      = 0.625 / 1e6  // per write request unit
	priceDynamoRRU      = 0.125 / 1e6  // per read request unit
	priceLambdaRequest  = 0.20 / 1e6   // per invocation
	priceLambdaGBSecond = 0.0000133334 // arm64, per GB-second
	priceSNS            = 0.50 / 1e6   // per publish
	priceS3Put          = 0.005 / 1e3  // per PUT/POST/LIST
	priceS3Get          = 0.0004 / 1e3 // per GET
	priceAPIGateway     = 1.00 / 1e6   // HTTP API, per request
	// lambdaMemoryGB and lambdaLatency model Lambda duration: every AWS call a function makes is assumed
	// to take 10 ms in region (the emulator's own latency says nothing about AWS's), at 128 MB.
	lambdaMemoryGB = 0.125
	lambdaLatency  = 10 * time.Millisecond
)

// CostLine is one billed item per invocation and for a million invocations.
type CostLine struct {
	Item          string  `json:"item"`
	PerInvocation float64 `json:"units_per_invocation"`
	Unit          string  `json:"unit"`
	UnitPriceUSD  float64 `json:"unit_price_usd"`
	PerMillionUSD float64 `json:"usd_per_million_invocations"`
}

// CostModel prices a counted command: the monthly bill of one million invocations like it.
type CostModel struct {
	PricesDate      string     `json:"prices_date"`
	Lines           []CostLine `json:"lines"`
	PerMillionUSD   float64    `json:"usd_per_million_invocations"`
	Assumptions     []string   `json:"assumptions"`
	LambdaInvokes   float64    `json:"lambda_invocations_per_invocation"`
	FunctionCalls   float64    `json:"function_aws_requests_per_invocation"`
	AgentCalls      float64    `json:"agent_aws_requests_per_invocation"`
	OversizedBodies bool       `json:"sqs_bodies_over_64kb"`
}

// agentOp reports whether a counted operation is made by agents (the rest are the functions').
func agentOp(o OpCount) bool {
	switch {
	case o.Service == "SQS" && o.Resource == "node":
		return true // the agent's receives and deletes on its own queue
	case o.Service == "SQS" && o.Operation == "SendMessage" && o.Resource == "results":
		return true // replies and heartbeats
	case o.Service == "S3":
		return true // output uploads
	}
	return false
}

// NewCostModel prices r per invocation.
func NewCostModel(r RequestsRun) CostModel {
	n := float64(r.Nodes)
	var sqsStd, sqsFIFO, sns, s3put, s3get, lambdaInv, fnCalls, agentCalls float64
	for _, o := range r.Ops {
		c := float64(o.Count)
		if agentOp(o) {
			agentCalls += c
		} else {
			fnCalls += c
		}
		switch o.Service {
		case "SQS":
			if o.Resource == "dispatch" {
				sqsFIFO += c
			} else {
				sqsStd += c
			}
			// A non-empty receive by a function's poller is one batch, one Lambda invocation.
			if o.Operation == "ReceiveMessage" && (o.Resource == "dispatch" || o.Resource == "results") {
				lambdaInv += c
			}
		case "SNS":
			sns += c
		case "S3":
			if o.Operation == "GetObject" || o.Operation == "HeadObject" {
				s3get += c
			} else {
				s3put += c
			}
		}
	}
	apiCalls := 1.0 // SendCommand: one api (API Gateway + Lambda) call per command
	lambdaInv += apiCalls
	gbs := fnCalls * lambdaLatency.Seconds() * lambdaMemoryGB
	m := CostModel{PricesDate: PricesDate, LambdaInvokes: lambdaInv / n, FunctionCalls: fnCalls / n, AgentCalls: agentCalls / n,
		OversizedBodies: r.MaxSQSBody > 64*1024}
	add := func(item string, units float64, unit string, price float64) {
		m.Lines = append(m.Lines, CostLine{Item: item, PerInvocation: units, Unit: unit, UnitPriceUSD: price, PerMillionUSD: units * price * 1e6})
		m.PerMillionUSD += units * price * 1e6
	}
	add("SQS standard requests", sqsStd/n, "request", priceSQSStandard)
	add("SQS FIFO requests (dispatch queue)", sqsFIFO/n, "request", priceSQSFIFO)
	add("DynamoDB on-demand writes", r.WriteUnits/n, "WRU", priceDynamoWRU)
	add("DynamoDB on-demand reads", r.ReadUnits/n, "RRU", priceDynamoRRU)
	add("Lambda requests", lambdaInv/n, "invocation", priceLambdaRequest)
	add("Lambda duration (modelled)", gbs/n, "GB-s", priceLambdaGBSecond)
	add("API Gateway HTTP API (SendCommand)", apiCalls/n, "request", priceAPIGateway)
	add("SNS publishes", sns/n, "publish", priceSNS)
	add("S3 PUT", s3put/n, "request", priceS3Put)
	add("S3 GET", s3get/n, "request", priceS3Get)
	m.Assumptions = []string{
		fmt.Sprintf("a command to %d nodes (fleet commands amortise SendCommand and its api call over their nodes)", r.Nodes),
		"every SQS body is under 64 KB, so each request is billed once" + map[bool]string{true: " (NOT true in this run: some bodies were larger)", false: ""}[m.OversizedBodies],
		"one Lambda invocation per non-empty batch the dispatch and ingest pollers received (Lambda's event source mapping batches the same way), plus the api call",
		fmt.Sprintf("Lambda duration modelled at %s per AWS call the functions make, %.0f MB, arm64", lambdaLatency, lambdaMemoryGB*1024),
		"empty long polls are not included: they cost per node per month, not per invocation (see the idle cost)",
		"free tiers, storage, data transfer and CloudWatch Logs are not included",
	}
	return m
}

// IdleCost is what an idle node costs: measured on the service side while one real agent process
// idled, and by the agent's design constants on the node side.
type IdleCost struct {
	WindowMinutes float64 `json:"window_minutes"`
	// ServiceOps are the functions' requests for that node's heartbeats during the window.
	ServiceOps []OpCount `json:"service_ops"`
	// PollerEmptyPolls are the function pollers' empty receives: a fixed cost per deployment (Lambda's
	// event source mappings poll too), not per node.
	PollerEmptyPolls      map[string]int `json:"poller_empty_polls"`
	AgentRequestsPerMin   float64        `json:"agent_requests_per_node_minute"`
	ServiceRequestsPerMin float64        `json:"service_requests_per_node_minute"`
	WriteUnitsPerMin      float64        `json:"dynamodb_write_units_per_node_minute"`
	USDPerNodeMonth       float64        `json:"usd_per_node_month"`
	// Heartbeats is how many heartbeats the functions handled in the window.
	Heartbeats int `json:"heartbeats_in_window"`
}

// NewIdleCost prices one idle node from a tally taken over window while it was the only agent.
// Requests on the commands and invocations tables are sweep's (fixed per deployment) and left out.
// The functions' requests are counted per heartbeat they received and scaled to the agent's
// heartbeat rate, so the window need not hold a whole number of heartbeat intervals; with no
// heartbeat received (a quick run's short window), they are averaged over the window.
func NewIdleCost(t Tally, window time.Duration, writeUnits float64) *IdleCost {
	minutes := window.Minutes()
	ic := &IdleCost{WindowMinutes: minutes, PollerEmptyPolls: t.EmptyPolls, Heartbeats: t.HeartbeatsReceived}
	svc := 0.0
	for _, o := range t.Ops {
		if o.Resource == "commands" || o.Resource == "invocations" {
			continue
		}
		ic.ServiceOps = append(ic.ServiceOps, o)
		svc += float64(o.Count)
	}
	heartbeatsPerMin := time.Minute.Seconds() / runcmd.HeartbeatInterval.Seconds()
	// perMin turns a count over the window into a count per node-minute.
	perMin := 1 / minutes
	if t.HeartbeatsReceived > 0 {
		perMin = heartbeatsPerMin / float64(t.HeartbeatsReceived)
	}
	sqsSvc := 0
	for _, o := range ic.ServiceOps {
		if o.Service == "SQS" {
			sqsSvc += o.Count
		}
	}
	ic.ServiceRequestsPerMin = svc * perMin
	// The agent: one long poll per PollWait that returns empty, one heartbeat per HeartbeatInterval.
	ic.AgentRequestsPerMin = time.Minute.Seconds()/node.PollWait.Seconds() + heartbeatsPerMin
	ic.WriteUnitsPerMin = writeUnits * perMin
	perMonth := 30 * 24 * 60.0
	// Heartbeat handling runs in ingest: its requests are SQS and DynamoDB; Lambda invocations are one
	// per results batch, which an idle fleet sends alone: one per heartbeat.
	ic.USDPerNodeMonth = perMonth * ((ic.AgentRequestsPerMin+float64(sqsSvc)*perMin)*priceSQSStandard +
		ic.WriteUnitsPerMin*priceDynamoWRU + heartbeatsPerMin*priceLambdaRequest)
	return ic
}
