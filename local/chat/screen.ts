/** Where the chat appears: plain lines for pipes and scripts, or a terminal with a prompt. */
import { clearScreenDown, createInterface, cursorTo, type Interface, moveCursor } from 'node:readline';
import { type Line, rowsOf } from './format';

/** A line shown earlier, which an own message's state may replace. */
export interface Shown {
  readonly id: number;
}

interface InputHandlers {
  line(text: string): void;
  end(): void;
  interrupt(): void;
}

/** Where the chat appears: a terminal with a prompt, or plain lines for pipes and scripts. */
export interface Screen {
  /** A line of the transcript. */
  show(text: Line): Shown;
  /** Changes a shown line where it stands when the screen can; else shows `note` as a line of its own. */
  replace(shown: Shown, text: Line, note: Line): void;
  /** Connection state and other news about the session, not part of the transcript. */
  note(text: Line): void;
  /** Reads the user's lines until their input ends. */
  read(handlers: InputHandlers): void;
  close(): void;
}

/** Plain lines: the transcript on stdout, one line per event; connection news on stderr. */
export class PlainScreen implements Screen {
  private nextId = 0;

  show(text: Line): Shown {
    process.stdout.write(`${text.plain}\n`);
    return { id: ++this.nextId };
  }

  replace(_shown: Shown, _text: Line, note: Line): void {
    this.show(note);
  }

  note(text: Line): void {
    process.stderr.write(`${text.plain}\n`);
  }

  read(handlers: InputHandlers): void {
    const input = createInterface({
      input: process.stdin,
      crlfDelay: Number.POSITIVE_INFINITY,
      terminal: false,
    });
    input.on('line', (text) => handlers.line(text));
    input.on('close', () => handlers.end());
  }

  close(): void {}
}

const PROMPT = '> ';

/**
 * A terminal: output scrolls above a prompt line that keeps what is being typed. An own message's line
 * is rewritten in place (… then ✓) while the rows of it and of every line below it are certain;
 * otherwise its new state is printed as a line of its own.
 */
export class TerminalScreen implements Screen {
  private prompt: Interface | undefined;
  private nextId = 0;
  /** The lines above the prompt, newest last, with the rows each takes (undefined: not certain). */
  private lines: Array<{ id: number; rows: number | undefined }> = [];
  private readonly out = process.stdout;

  constructor() {
    // After a resize, lines may wrap differently: none shown before is rewritten in place.
    this.out.on('resize', () => this.forgetRows());
  }

  show(text: Line): Shown {
    const id = ++this.nextId;
    this.above(text.styled);
    this.remember(id, this.rowsOf(text.plain));
    return { id };
  }

  replace(shown: Shown, text: Line, note: Line): void {
    const index = this.lines.findIndex((l) => l.id === shown.id);
    const rows = this.lines[index]?.rows;
    let up = this.prompt?.getCursorPos().rows ?? 0;
    for (const l of this.lines.slice(index)) up += l.rows ?? Number.NaN;
    if (index === -1 || rows === undefined || Number.isNaN(up) || rows !== this.rowsOf(text.plain)) {
      this.show(note);
      return;
    }
    // Save the cursor, clear the line's rows and write it anew, restore: nothing scrolls meanwhile.
    this.out.write('\x1b7');
    moveCursor(this.out, 0, -up);
    cursorTo(this.out, 0);
    this.out.write(`${'\x1b[2K\x1b[1B'.repeat(rows - 1)}\x1b[2K`);
    moveCursor(this.out, 0, 1 - rows);
    this.out.write(`${text.styled}\x1b8`);
  }

  note(text: Line): void {
    this.show(text);
  }

  read(handlers: InputHandlers): void {
    const prompt = createInterface({
      input: process.stdin,
      output: this.out,
      prompt: PROMPT,
      terminal: true,
      historySize: 100,
    });
    this.prompt = prompt;
    prompt.on('line', (text) => {
      // Readline echoed the line and moved below it: the echo gives way to the message's own line.
      // (An echo that ends at the right edge takes a row more: readline wraps it with a space.)
      const echoRows = this.rowsOf(`${PROMPT}${text} `);
      if (echoRows === undefined) this.remember(++this.nextId, undefined);
      else {
        moveCursor(this.out, 0, -echoRows);
        clearScreenDown(this.out);
      }
      handlers.line(text);
      prompt.prompt(true);
    });
    prompt.on('SIGINT', () => handlers.interrupt());
    prompt.on('close', () => {
      this.prompt = undefined;
      cursorTo(this.out, 0);
      clearScreenDown(this.out);
      handlers.end();
    });
    prompt.prompt();
  }

  close(): void {
    this.prompt?.removeAllListeners('close');
    this.prompt?.close();
    if (this.prompt) {
      cursorTo(this.out, 0);
      clearScreenDown(this.out);
    }
    this.prompt = undefined;
  }

  /** Writes a line above the prompt and redraws the prompt with what is being typed. */
  private above(styled: string): void {
    const prompt = this.prompt;
    if (prompt === undefined) {
      this.out.write(`${styled}\n`);
      return;
    }
    const { rows } = prompt.getCursorPos();
    moveCursor(this.out, 0, -rows);
    cursorTo(this.out, 0);
    clearScreenDown(this.out);
    // Readline redraws from `rows` rows above the cursor: leave that many below the new line.
    this.out.write(`${styled}\n${'\n'.repeat(rows)}`);
    prompt.prompt(true);
  }

  private rowsOf(plain: string): number | undefined {
    return rowsOf(plain, this.out.columns || 80);
  }

  private remember(id: number, rows: number | undefined): void {
    this.lines.push({ id, rows });
    // A line scrolled off the screen cannot be reached: keep those the screen still shows.
    const screenRows = (this.out.rows || 24) - 2;
    let shown = 0;
    let first = this.lines.length;
    while (first > 0 && shown + (this.lines[first - 1]?.rows ?? 1) <= screenRows) {
      first--;
      shown += this.lines[first]?.rows ?? 1;
    }
    this.lines = this.lines.slice(first);
  }

  private forgetRows(): void {
    this.lines = this.lines.map((l) => ({ ...l, rows: undefined }));
  }
}
