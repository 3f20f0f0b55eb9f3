using System.CommandLine;
using Meshgate.Configuration;

namespace Meshgate.Commands;

internal static class ValidateCommand
{
    public static Command Create()
    {
        var config = ConfigOption.Create();
        var command = new Command("validate", "Check a config file: prints every error with file, line and path and exits 2, or prints 'ok' and exits 0.") { config };
        command.SetAction(parse =>
        {
            var result = ConfigLoader.LoadFile(parse.GetValue(config)!);
            if (!result.Ok)
            {
                ConfigOption.PrintErrors(parse.InvocationConfiguration.Error, result.Errors);
                return ConfigOption.InvalidConfigExitCode;
            }
            parse.InvocationConfiguration.Output.WriteLine("ok");
            return 0;
        });
        return command;
    }
}
