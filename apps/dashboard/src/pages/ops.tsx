import { type DefinitionJson, GyozaApiError } from '@gyoza/client';
import { useMutation, useQuery } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { Empty, ErrorNote, Json } from '../components';
import { formatTime } from '../lib/format';
import { type FormValues, fieldErrorsFromApi, fieldsFromSpecs, inputsFromForm } from '../lib/input-form';
import { useSession } from '../session';

export function OpsPage() {
  const { id } = useParams();
  const { client } = useSession();
  const definitions = useQuery({
    queryKey: ['definitions', 'latest'],
    // One entry per op: its latest version (the op page lists the others).
    queryFn: () => client.listDefinitions({ latest: true }),
  });
  return (
    <>
      <h1>Ops</h1>
      <ErrorNote error={definitions.error} />
      {definitions.data?.length === 0 && (
        <Empty
          title="No op is deployed yet. Deploy the example:"
          command="pnpm gyoza op deploy examples/hello/gyoza.yml"
        />
      )}
      <div className="split">
        <nav aria-label="Ops" className="op-list">
          <ul className="plain">
            {(definitions.data ?? []).map((d) => (
              <li key={d.id}>
                <Link to={`/ops/${d.id}`} aria-current={d.id === id ? 'page' : undefined}>
                  {d.id}
                </Link>{' '}
                <span className="muted">{d.version}</span>
              </li>
            ))}
          </ul>
        </nav>
        {id ? <OpDetail key={id} id={id} /> : definitions.data?.length ? <p>Pick an op to see it and run it.</p> : null}
      </div>
    </>
  );
}

function OpDetail({ id }: { id: string }) {
  const { client } = useSession();
  const versions = useQuery({
    queryKey: ['definition-versions', id],
    queryFn: () => client.listDefinitionVersions(id),
  });
  const [version, setVersion] = useState<string>();
  if (versions.error) return <ErrorNote error={versions.error} />;
  const list = versions.data ?? [];
  const definition = list.find((d) => d.version === version) ?? list[0];
  if (!definition) return <p aria-busy="true">Loading…</p>;
  return (
    <section className="op-detail" aria-label={`Op ${id}`}>
      <h2>
        {definition.id}{' '}
        <label className="inline">
          version{' '}
          <select value={definition.version} onChange={(e) => setVersion(e.target.value)}>
            {list.map((d) => (
              <option key={d.version} value={d.version}>
                {d.version} ({formatTime(d.created_at)})
              </option>
            ))}
          </select>
        </label>
      </h2>
      <p className="muted">
        image <code>{definition.image}</code> · {definition.constraints.cpu_cores} CPU · {definition.constraints.ram_mb}{' '}
        MB RAM
        {definition.constraints.gpu_count > 0 &&
          ` · ${definition.constraints.gpu_count} GPU × ${definition.constraints.vram_mb} MB`}{' '}
        · up to {definition.retry_policy.max_attempts} attempts
      </p>
      <RunForm key={definition.version} definition={definition} />
      <Json label="Inputs schema" value={definition.input_specs} />
    </section>
  );
}

function RunForm({ definition }: { definition: DefinitionJson }) {
  const { client } = useSession();
  const navigate = useNavigate();
  const fields = fieldsFromSpecs(definition.input_specs);
  const [values, setValues] = useState<FormValues>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const create = useMutation({
    mutationFn: (inputs: Record<string, unknown>) =>
      client.createRun({ definition_id: definition.id, version: definition.version, inputs }),
    onSuccess: (run) => navigate(`/runs/${run.id}`),
    onError: (error) => {
      if (error instanceof GyozaApiError && error.details.length > 0) setErrors(fieldErrorsFromApi(error.details));
      else setErrors({ '': (error as Error).message });
    },
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    const parsed = inputsFromForm(fields, values);
    setErrors(parsed.errors);
    if (Object.keys(parsed.errors).length === 0) create.mutate(parsed.inputs);
  }
  return (
    <form className="run-form" onSubmit={submit} aria-label="Create a run" noValidate>
      <h3>Create a run</h3>
      {fields.length === 0 && <p className="muted">This op takes no inputs.</p>}
      {fields.map((f) => {
        const inputId = `input-${f.name}`;
        const error = errors[f.name];
        const describedBy = error ? `${inputId}-error` : f.description ? `${inputId}-help` : undefined;
        const value = values[f.name] ?? f.initial;
        return (
          <div key={f.name} className="field">
            <label htmlFor={inputId}>
              {f.name} <span className="muted small">{f.type}</span>
              {f.required && <span aria-hidden="true"> *</span>}
            </label>
            {f.control === 'checkbox' ? (
              <input
                id={inputId}
                type="checkbox"
                checked={value === true}
                onChange={(e) => setValues({ ...values, [f.name]: e.target.checked })}
              />
            ) : f.control === 'json' ? (
              <textarea
                id={inputId}
                value={String(value)}
                placeholder={f.placeholder}
                aria-invalid={error ? true : undefined}
                aria-describedby={describedBy}
                onChange={(e) => setValues({ ...values, [f.name]: e.target.value })}
              />
            ) : (
              <input
                id={inputId}
                type="text"
                inputMode={f.control === 'number' ? 'decimal' : undefined}
                value={String(value)}
                placeholder={f.placeholder}
                required={f.required}
                aria-invalid={error ? true : undefined}
                aria-describedby={describedBy}
                onChange={(e) => setValues({ ...values, [f.name]: e.target.value })}
              />
            )}
            {f.description && (
              <small id={`${inputId}-help`} className="muted">
                {f.description}
              </small>
            )}
            {error && (
              <small id={`${inputId}-error`} className="error" role="alert">
                {f.name} {error}
              </small>
            )}
          </div>
        );
      })}
      {errors[''] && (
        <p className="error" role="alert">
          {errors['']}
        </p>
      )}
      <button type="submit" disabled={create.isPending}>
        {create.isPending ? 'Creating…' : 'Create run'}
      </button>
    </form>
  );
}
