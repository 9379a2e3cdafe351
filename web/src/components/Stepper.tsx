interface StepperProps {
  steps: string[];
  current: number;
  /** The furthest step reached; steps up to it can be revisited. */
  reached: number;
  onSelect: (index: number) => void;
  label?: string;
}

/** Numbered progress through a multi-step form. */
export function Stepper({ steps, current, reached, onSelect, label = "Setup progress" }: StepperProps) {
  return (
    <nav aria-label={label} className="stepper-nav">
      <ol className="stepper">
        {steps.map((step, index) => {
          const state = index === current ? "current" : index < current ? "done" : "todo";
          const reachable = index <= reached && index !== current;
          return (
            <li key={step} className={`stepper-step stepper-${state}`}>
              {reachable ? (
                <button type="button" className="stepper-button" onClick={() => onSelect(index)}>
                  <span className="stepper-index" aria-hidden="true">
                    {index < current ? "✓" : index + 1}
                  </span>
                  <span className="stepper-label">
                    <span className="visually-hidden">Step {index + 1}: </span>
                    {step}
                    {index < current ? <span className="visually-hidden"> (completed)</span> : null}
                  </span>
                </button>
              ) : (
                <span className="stepper-button" aria-current={index === current ? "step" : undefined}>
                  <span className="stepper-index" aria-hidden="true">
                    {index + 1}
                  </span>
                  <span className="stepper-label">
                    <span className="visually-hidden">Step {index + 1}: </span>
                    {step}
                  </span>
                </span>
              )}
            </li>
          );
        })}
      </ol>
    </nav>
  );
}
