using Meshgate.Configuration.Model;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Console;

namespace Meshgate.Hosting;

/// <summary>
/// One line per event, JSON by default, at the level the config sets. The level can change on
/// reload, so the filter reads a switch instead of a fixed minimum.
/// </summary>
/// <remarks>
/// Every host that applies the same LogSetup (a gateway's proxy and admin apps, the mesh demo's processes) writes through
/// one console provider, so through one queue and one writer thread: with a provider each, two threads wrote to stdout
/// and lines came out of order (the admin API's "Now listening on" before the gateway's, which had started first). So
/// the provider outlives the hosts: whoever made the LogSetup disposes it after them, which writes out what is queued.
/// </remarks>
public sealed class LogSetup : IDisposable
{
    private const string HostingDiagnosticsCategory = "Microsoft.AspNetCore.Hosting.Diagnostics";

    public volatile LogLevel Level = LogLevel.Information;

    private readonly Lock _lock = new();
    // One container per format, holding that format's console provider.
    private readonly Dictionary<LogFormat, ServiceProvider> _consoles = [];

    public void Apply(ILoggingBuilder logging, LogFormat format)
    {
        logging.ClearProviders();
        logging.Services.AddSingleton(ConsoleProvider(format));
        logging.SetMinimumLevel(LogLevel.Trace);
        logging.AddFilter(Allows);
    }

    /// <summary>Writes out the queued lines and stops the console writer: after every host that used this setup.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var console in _consoles.Values) console.Dispose();
            _consoles.Clear();
        }
    }

    private ILoggerProvider ConsoleProvider(LogFormat format)
    {
        lock (_lock)
        {
            if (!_consoles.TryGetValue(format, out var console))
            {
                var services = new ServiceCollection();
                services.AddLogging(logging => AddConsole(logging, format));
                _consoles[format] = console = services.BuildServiceProvider();
            }
            return console.GetServices<ILoggerProvider>().Single();
        }
    }

    private static void AddConsole(ILoggingBuilder logging, LogFormat format)
    {
        if (format == LogFormat.Json)
        {
            logging.AddJsonConsole(o =>
            {
                o.JsonWriterOptions = new System.Text.Json.JsonWriterOptions { Indented = false };
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
        }
        else
        {
            logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                o.ColorBehavior = LoggerColorBehavior.Disabled;
            });
        }
    }

    /// <summary>
    /// ASP.NET Core and YARP log every request at Information; at the default level that would be a
    /// line per request on the hot path, so their chatter starts at Warning unless debug is asked for.
    /// </summary>
    private bool Allows(string? category, LogLevel level)
    {
        var minimum = Level;
        // ASP.NET Core starts an Activity and pushes a log scope for every request whenever this category
        // is enabled at any level (~1.3 KB and an AsyncLocal write per request, seen in an allocation
        // profile), only to log "request starting/finished" at Information. Below debug it says nothing
        // we want, so it is off; tracing, when configured, starts spans from its own source, for sampled requests only
        // (a test checks that ASP.NET Core makes no Activity with tracing on).
        if (minimum > LogLevel.Debug && category == HostingDiagnosticsCategory) return false;
        if (minimum > LogLevel.Debug && category is not null
            && (category.StartsWith("Microsoft.", StringComparison.Ordinal) || category.StartsWith("Yarp.", StringComparison.Ordinal))
            && category != "Microsoft.Hosting.Lifetime")
        {
            minimum = minimum < LogLevel.Warning ? LogLevel.Warning : minimum;
        }
        return level >= minimum;
    }
}
