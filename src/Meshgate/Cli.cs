using System.CommandLine;
using Meshgate.Commands;

namespace Meshgate;

/// <summary>
/// The command line as a callable: Program.cs passes the console, tests pass string writers and get
/// the real commands, exit codes and output without starting a child process.
/// </summary>
public static class Cli
{
    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        var root = new RootCommand("Meshgate: an API gateway and lightweight service mesh on Kestrel and YARP.")
        {
            GatewayCommand.Create(),
            ValidateCommand.Create(),
            DemoCommand.Create(),
            SchemaCommand.Create(),
            HashKeyCommand.Create(),
            StatusCommand.Create(),
            TopCommand.Create(),
            ControlPlaneCommand.Create(),
            SidecarCommand.Create(),
            ConfigCommand.Create(),
        };
        return root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cancellationToken);
    }
}
