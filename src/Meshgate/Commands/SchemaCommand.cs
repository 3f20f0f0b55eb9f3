using System.CommandLine;
using Meshgate.Configuration.Schema;

namespace Meshgate.Commands;

internal static class SchemaCommand
{
    public static Command Create()
    {
        var command = new Command("schema", "Print the JSON Schema of the config file (published as docs/meshgate.schema.json).");
        command.SetAction(parse => parse.InvocationConfiguration.Output.Write(ConfigSchema.Generate()));
        return command;
    }
}
