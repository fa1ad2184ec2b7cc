// Package patch is the patching core shared by the service and the node agent: patch baselines and
// their validation (CreatePatchBaseline's rules and limits), the predefined AWS-owned baselines,
// baseline snapshots (GetDeployablePatchSnapshotForInstance), the evaluation of a node's packages
// against a baseline (per-patch states, the install list, the InstancePatchState summary and the
// Patch compliance items), and Run, which drives one AWS-RunPatchBaseline Scan or Install through a
// package Source.
//
// Package backends live in subpackages: apt (Debian, Ubuntu), dnf (the RHEL and Amazon Linux
// family, dnf or yum) and simulated (a JSON inventory for demo fleets, never picked by default).
//
// The rules follow the Linux payload of AWS-RunPatchBaseline as recorded in
// shared/reference/documents-patch-compliance.md parts B and C; where SSM is ambiguous the choice is
// written next to the code and in the package's report for docs/compatibility.md.
//
// The package imports the standard library and the root package only.
package patch
