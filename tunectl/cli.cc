#include "tunectl/cli.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "common/client_security.h"
#include "common/version.h"
#include "tunectl/cli_docs.h"
#include "tunectl/format.h"

namespace tuner::tunectl {
namespace {

// --state values: one of the trial states, any case.
CLI::Validator TrialStateValidator() {
  return CLI::Validator(
      [](std::string& value) {
        return ParseTrialState(value) ? std::string() : UnknownTrialStateMessage(value);
      },
      "STATE");
}

// A whole number in [low, high]: "-k abc" is "must be an integer from 1 to 10000 (got
// \"abc\")", not CLI11's "not in range".
CLI::Validator IntegerIn(long long low, long long high) {
  return CLI::Validator(
      [low, high](std::string& value) {
        long long parsed = 0;
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
        const std::string range = std::to_string(low) + " to " + std::to_string(high);
        if (ec != std::errc() || end != value.data() + value.size()) {
          return "must be an integer from " + range + " (got \"" + value + "\")";
        }
        if (parsed < low || parsed > high) {
          return "must be from " + range + " (got " + value + ")";
        }
        return std::string();
      },
      "INT");
}

// A number of seconds > 0 (CLI::PositiveNumber would print its range: 300 digits of DBL_MAX).
CLI::Validator PositiveSeconds() {
  return CLI::Validator(
      [](std::string& value) {
        char* end = nullptr;
        const double seconds = std::strtod(value.c_str(), &end);
        if (value.empty() || end != value.c_str() + value.size() || !std::isfinite(seconds)) {
          return "must be a number of seconds (got \"" + value + "\")";
        }
        if (seconds <= 0) return "must be more than 0 seconds (got " + value + ")";
        return std::string();
      },
      "SECONDS");
}

// A number of seconds >= 0.
CLI::Validator NonNegativeSeconds() {
  return CLI::Validator(
      [](std::string& value) {
        char* end = nullptr;
        const double seconds = std::strtod(value.c_str(), &end);
        if (value.empty() || end != value.c_str() + value.size() || !std::isfinite(seconds)) {
          return "must be a number of seconds (got \"" + value + "\")";
        }
        if (seconds < 0) return "must be 0 or more seconds (got " + value + ")";
        return std::string();
      },
      "SECONDS");
}

}  // namespace

int RunTunectl(int argc, const char* const* argv, const CliEnvironment& env) {
  std::ostream& out = *env.out;
  std::ostream& err = *env.err;
  std::string server = "127.0.0.1:50051";
  double timeout_s = 10;
  ClientSecurity security;
  CLI::App app{"tunectl: start, inspect, watch and stop hyperparameter tuning studies on a "
               "tuner-server"};
  app.name("tunectl");
  app.set_version_flag("--version", std::string("tunectl ") + TUNER_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global flags may also follow the subcommand
  app.add_option("--server", server, "tuner-server address, host:port")
      ->envname("TUNER_SERVER")
      ->capture_default_str();
  app.add_option("--timeout", timeout_s, "seconds to wait for each call")
      ->check(PositiveSeconds())
      ->capture_default_str();
  AddClientSecurityFlags(app, security);

  std::string spec_path;
  std::string study;
  bool json = false;
  std::vector<std::string> states;
  int k = 1;
  bool once = false;
  bool plain = false;
  bool intermediate = false;

  CLI::App* start = app.add_subcommand("start-study", "create a study from a YAML spec; prints its id");
  start->add_option("SPEC", spec_path, "the study spec, YAML (docs/spec.md)")->required();
  start->add_flag("--json", json, "print the created study as JSON instead of its id");

  CLI::App* studies = app.add_subcommand("studies", "list the studies");
  studies->add_flag("--json", json, "print JSON");

  CLI::App* status = app.add_subcommand("status", "a study's state, trial counts, best trial");
  status->add_option("STUDY", study, "study id or name")->required();
  status->add_flag("--json", json, "print JSON");

  CLI::App* trials = app.add_subcommand("trials", "a study's trials");
  trials->add_option("STUDY", study, "study id or name")->required();
  trials->add_option("--state", states,
                     "only trials in this state (repeat or comma-separate): pending, running, "
                     "paused, completed, pruned, failed, stopped")
      ->delimiter(',')
      ->check(TrialStateValidator());
  trials->add_flag("--json", json, "print JSON (the same as --format json)");
  std::string trials_format;
  trials->add_option("--format,-f", trials_format, "table (default), json, yaml or csv")
      ->check(CLI::IsMember({"table", "json", "yaml", "csv"}));
  trials->add_flag("--intermediate", intermediate,
                   "each trial's per-epoch values too: the table's INTERMEDIATE column (the "
                   "last 8 epochs), intermediate_values in json / yaml / csv");

  CLI::App* best = app.add_subcommand("best", "a study's best completed trials, best first");
  best->add_option("STUDY", study, "study id or name")->required();
  best->add_option("-k", k, "how many trials")->check(IntegerIn(1, 10000))->capture_default_str();
  best->add_flag("--json", json, "print JSON");

  CLI::App* watch = app.add_subcommand("watch", "follow a study live until it finishes");
  watch->add_option("STUDY", study, "study id or name")->required();
  watch->add_flag("--once", once, "print one snapshot and exit");
  watch->add_flag("--plain", plain,
                  "one line per trial event (created, started, ended; not every epoch), even on "
                  "a terminal");

  CLI::App* stop = app.add_subcommand("stop", "stop a study: no new trials, running ones end");
  stop->add_option("STUDY", study, "study id or name")->required();
  stop->add_flag("--json", json, "print the stopped study as JSON");

  std::vector<std::string> enqueue_params;
  CLI::App* enqueue = app.add_subcommand(
      "enqueue", "make a study's next trial use the given params (random and asha studies)");
  enqueue->add_option("STUDY", study, "study id or name")->required();
  enqueue->add_option("--param", enqueue_params,
                      "NAME=VALUE, once per param of the search space (repeat)")
      ->required()
      ->take_all();
  enqueue->add_flag("--json", json, "print the new trial as JSON");
  bool allow_duplicate = false;
  enqueue->add_flag("--allow-duplicate", allow_duplicate,
                    "enqueue it even when a trial of the study already has these params");

  EnsembleOptions ensemble_options;
  bool no_wait = false;
  CLI::App* ensemble = app.add_subcommand(
      "ensemble", "evaluate the averaged softmax of a study's k best trials on the test set "
                  "(needs keep_checkpoints: true and a torch trial-worker)");
  ensemble->add_option("STUDY", study, "study id or name")->required();
  ensemble->add_option("-k", ensemble_options.k, "how many of the best trials")
      ->check(IntegerIn(1, 100))
      ->capture_default_str();
  ensemble->add_flag("--no-wait", no_wait, "queue it and return; tunectl best shows the result");
  ensemble->add_option("--wait-timeout", ensemble_options.wait_timeout_s,
                       "seconds to wait for the result; 0 waits until it comes")
      ->check(NonNegativeSeconds())
      ->capture_default_str();
  ensemble->add_flag("--json", json, "print the ensemble as JSON");

  CLI::App* del = app.add_subcommand(
      "delete", "delete a study that ended (stop it first), with its trials and checkpoints");
  del->add_option("STUDY", study, "study id or name")->required();
  del->add_flag("--json", json, "print what was deleted as JSON");

  CLI::App* workers = app.add_subcommand(
      "workers", "the registered trial-workers: host, devices, the trial each runs, last seen");
  workers->add_flag("--json", json, "print JSON");

  std::string html_path;
  CLI::App* report = app.add_subcommand(
      "report", "write a self-contained HTML report of a study: plots and the trials table");
  report->add_option("STUDY", study, "study id or name")->required();
  report->add_option("--html", html_path, "the HTML file to write (replaced atomically)")
      ->required();

  std::string shell;
  CLI::App* completion = app.add_subcommand(
      "completion", "print a shell completion script: source <(tunectl completion bash)");
  completion->add_option("SHELL", shell, "bash or zsh")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));
  CLI::App* man = app.add_subcommand("man", "print the man page (roff): tunectl man | man -l -");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      app.exit(e, out, err);  // --help
      return kExitOk;
    }
    std::string help = "tunectl --help";
    for (const CLI::App* sub : app.get_subcommands()) help = "tunectl " + sub->get_name() + " --help";
    std::string message = e.what();
    const std::vector<std::string> extra = app.remaining();
    if (app.get_subcommands().empty() && !extra.empty() && extra[0].rfind("-", 0) != 0) {
      message = "unknown subcommand \"" + extra[0] + "\"";  // CLI11 would say one is required
    }
    err << "error: " << message << " (see " << help << ")\n";
    return kExitUsage;
  }

  if (completion->parsed() || man->parsed()) {
    OptionValues values;
    values["--state"] = TrialStateChoices();
    values["--format"] = values["-f"] = {"table", "json", "yaml", "csv"};
    if (man->parsed()) {
      out << ManPage(app, std::string("tunectl ") + TUNER_VERSION);
    } else {
      out << (shell == "zsh" ? ZshCompletion(app, values) : BashCompletion(app, values));
    }
    return kExitOk;
  }

  absl::StatusOr<ClientAuth> auth = ResolveClientSecurity(security);
  if (!auth.ok()) {
    err << "error: " << auth.status().message() << "\n";
    return auth.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitError;
  }
  ClientOptions options;
  options.server = server;
  options.timeout_s = timeout_s;
  options.metadata = auth->metadata;
  options.tls = !security.tls_ca.empty();
  std::shared_ptr<grpc::Channel> channel = MakeClientChannel(server, *auth);
  std::unique_ptr<v1::StudyService::Stub> stub = v1::StudyService::NewStub(channel);
  Commands commands(*stub, options, out, err);

  if (start->parsed()) return commands.StartStudy(spec_path, json);
  if (studies->parsed()) return commands.Studies(json);
  if (status->parsed()) return commands.Status(study, json);
  if (trials->parsed()) return commands.Trials(study, states, json, intermediate, trials_format);
  if (workers->parsed()) return commands.Workers(json);
  if (del->parsed()) return commands.Delete(study, json);
  if (best->parsed()) return commands.Best(study, k, json);
  if (stop->parsed()) return commands.Stop(study, json);
  if (enqueue->parsed()) return commands.Enqueue(study, enqueue_params, json, allow_duplicate);
  if (report->parsed()) return commands.Report(study, html_path);
  if (ensemble->parsed()) {
    ensemble_options.wait = !no_wait;
    ensemble_options.json = json;
    ensemble_options.cancel = env.cancel;
    return commands.Ensemble(study, ensemble_options);
  }
  WatchOptions watch_options;
  watch_options.once = once;
  watch_options.live = env.out_is_tty && !plain;
  watch_options.width = env.terminal_width;
  watch_options.cancel = env.cancel;
  return commands.Watch(study, watch_options);
}

}  // namespace tuner::tunectl
